// Fuzzes the target's session state machine: one Server (one reactor, one RAM LUN) for the whole
// run; each input is a connection over the in-process seam (Server::connect_in_process), mostly a
// valid login so the full feature phase is reached, then PDUs built from the input bytes. The
// target must not crash (sanitizers), every PDU it answers must frame and be a target opcode no
// longer than our MaxRecvDataSegmentLength, and every 64 inputs a fresh login with TEST UNIT
// READY must still work.
//
// Input: byte 0 picks the login (bits 0-2 all zero: a Login Request whose text and flags come
// from the input; otherwise libiscsi's keys, with bit 3 HeaderDigest=CRC32C, bit 4
// DataDigest=CRC32C, bit 5 ImmediateData=No, bit 6 InitialR2T=Yes, bit 7 small bursts and
// segments), then up to 32 PDUs, each: kind, flags, LUN, CmdSN delta, then what the kind needs
// (see next_pdu), then a data length and the data.
#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <memory>

#include <spdlog/spdlog.h>

#include "fuzz_input.hpp"
#include "../unit/target/raw_client.hpp"
#include "target/config.hpp"
#include "target/server.hpp"

using namespace iscsikit;
using namespace iscsikit::target;
using namespace iscsikit::target::testing;

namespace {

using fuzz::check;
using fuzz::Input;

Server& server() {
    static Server* const instance = [] {
        spdlog::set_level(spdlog::level::off);
        // The server's reactor thread runs until the process ends: when libFuzzer exits (its time
        // is up) static destruction frees spdlog's registry and with it the default logger, which
        // the reactor may still be checking the level of (CI saw that use-after-free at the 30th
        // second). One reference that is never released keeps the logger for the process's life.
        static auto* const pinned = new std::shared_ptr<spdlog::logger>(spdlog::default_logger());
        (void)pinned;
        DaemonConfig config;
        config.reactors = 1;
        TargetSpec target;
        target.iqn = kTargetIqn;
        target.portals.push_back(PortalAddress{"127.0.0.1", 0});
        LunSpec lun;
        lun.kind = LunSpec::Kind::ram;
        lun.size = 256 * 1024;  // small: WRITE SAME and UNMAP over the whole LU stay fast
        lun.block_size = 512;
        target.luns = {lun};
        config.targets.push_back(target);
        auto* s = new Server(std::move(config));  // lives for the process: libFuzzer never returns
        s->start();
        return s;
    }();
    return *instance;
}

std::unique_ptr<RawClient> connect() {
    return std::make_unique<RawClient>(
        [](asio::any_io_executor executor) { return server().connect_in_process(std::move(executor)); });
}

// What the target sent must frame (RawClient::recv checks digests and lengths) and be a target
// PDU within our MaxRecvDataSegmentLength. Reads until `quiet` passes without a PDU or the target
// closes. Remembers the last R2T's and NOP-In's target transfer tags.
struct Tags {
    std::uint32_t r2t = kReservedTag;
    std::uint32_t r2t_offset = 0;
    std::uint32_t nop = kReservedTag;
};
bool drain(RawClient& client, Ms quiet, std::uint32_t max_recv, Tags& tags) {
    for (;;) {
        auto pdu = client.recv(quiet);
        if (!pdu) {
            check(pdu.error() != RecvError::bad_digest);
            return pdu.error() == RecvError::timeout;  // false: the target closed
        }
        check(iscsi::is_target_opcode(pdu->bhs.opcode()));
        check(pdu->data.size() <= max_recv);
        if (pdu->bhs.opcode() == Opcode::r2t) {
            tags.r2t = iscsi::R2tView{pdu->bhs}.target_transfer_tag();
            tags.r2t_offset = iscsi::R2tView{pdu->bhs}.buffer_offset();
        }
        if (pdu->bhs.opcode() == Opcode::nop_in) tags.nop = iscsi::NopInView{pdu->bhs}.target_transfer_tag();
    }
}

// The target still serves: a fresh login, and TEST UNIT READY completes (a unit attention first,
// or RESERVATION CONFLICT or NOT READY when an input left the LU reserved or stopped, still count).
void check_serves() {
    auto client = connect();
    auto login = client->login(libiscsi_keys(client->initiator_name));
    check(login.has_value() && login->status() == 0);
    auto tur = client->execute(test_unit_ready(), 0, false, false);
    check(tur.completed);
}

// A SCSI command whose CDB mostly makes sense for a 512-block LU: READ, WRITE, or others.
void fill_cdb(Pdu& pdu, Input& in) {
    static constexpr std::uint8_t kOpcodes[] = {0x00, 0x28, 0x2a, 0x12, 0x41, 0x35, 0x88, 0x8a, 0x2f, 0xa0, 0x16, 0x1b};
    std::byte* cdb = iscsi::ScsiCommandView{pdu.bhs}.cdb_bytes();
    const std::uint8_t selector = in.u8();
    if (selector >= 0xf0) {  // raw
        for (int i = 0; i < 16; ++i) cdb[i] = std::byte{in.u8()};
        return;
    }
    const std::uint8_t opcode = kOpcodes[selector % sizeof kOpcodes];
    cdb[0] = std::byte{opcode};
    const std::uint8_t lba = in.u8(), blocks = in.u8();
    if (opcode == 0x88 || opcode == 0x8a) {
        cdb[9] = std::byte{lba};
        cdb[13] = std::byte{blocks};
    } else if (opcode == 0x12 || opcode == 0xa0) {
        cdb[4] = std::byte{blocks};  // allocation length
        cdb[8] = std::byte{blocks};
    } else {
        cdb[5] = std::byte{lba};
        cdb[8] = std::byte{blocks};
    }
}

// Builds the next PDU from the input. kind bits 0-2: opcode (NOP-Out, SCSI Command, Task
// Management, Login, Text, Data-Out, Logout, SNACK); bit 3: immediate; bits 4-5: ITT (fresh, the
// last command's, 0xffffffff, from the input); bit 6: any opcode from the flags byte instead.
Pdu next_pdu(RawClient& client, Input& in, std::uint8_t kind, const Tags& tags, std::uint32_t& last_itt) {
    static constexpr Opcode kOpcodes[] = {Opcode::nop_out,        Opcode::scsi_command, Opcode::task_management_request,
                                          Opcode::login_request,  Opcode::text_request, Opcode::data_out,
                                          Opcode::logout_request, Opcode::snack_request};
    const std::uint8_t flags = in.u8();
    Pdu pdu;
    pdu.bhs.set_opcode((kind & 0x40) ? static_cast<Opcode>(flags & 0x3f) : kOpcodes[kind & 7]);
    const Opcode opcode = pdu.bhs.opcode();
    pdu.bhs.set_immediate(kind & 8);
    pdu.bhs.set_u8(1, flags);
    pdu.bhs.set_lun(std::uint64_t{in.u8() & 3u} << 48);
    switch ((kind >> 4) & 3) {
        case 0: pdu.bhs.set_initiator_task_tag(client.take_itt()); break;
        case 1: pdu.bhs.set_initiator_task_tag(last_itt); break;
        case 2: pdu.bhs.set_initiator_task_tag(kReservedTag); break;
        case 3: pdu.bhs.set_initiator_task_tag(in.u32()); break;
    }
    // CmdSN: the expected one mostly, sometimes a little off either side of the window.
    const std::uint8_t delta = in.u8();
    const std::uint32_t cmd_sn = client.cmd_sn + ((delta & 0x80) ? (delta & 0x3f) - 32u : 0u);
    const iscsi::RequestSequenceView seq{pdu.bhs};
    seq.set_cmd_sn(cmd_sn);
    seq.set_exp_stat_sn(client.exp_stat_sn);
    const bool advances = !(kind & 8) && (delta & 0x80) == 0;
    switch (opcode) {
        case Opcode::scsi_command:
            iscsi::ScsiCommandView{pdu.bhs}.set_expected_data_transfer_length(std::uint32_t{in.u16()} << (in.u8() & 7));
            fill_cdb(pdu, in);
            last_itt = pdu.bhs.initiator_task_tag();
            if (advances) ++client.cmd_sn;
            break;
        case Opcode::data_out: {
            const iscsi::DataOutView out{pdu.bhs};
            pdu.bhs.set_initiator_task_tag(last_itt);
            out.set_target_transfer_tag((flags & 0x40) ? in.u32() : tags.r2t);
            pdu.bhs.set_u32(24, 0);  // reserved in Data-Out: no CmdSN
            out.set_data_sn(in.u8());
            out.set_buffer_offset((flags & 0x20) ? std::uint32_t{in.u16()} * 512 : tags.r2t_offset);
            break;
        }
        case Opcode::task_management_request:
            iscsi::TaskManagementRequestView{pdu.bhs}.set_referenced_task_tag(last_itt);
            iscsi::TaskManagementRequestView{pdu.bhs}.set_ref_cmd_sn(cmd_sn - 1);
            break;
        case Opcode::nop_out:
            iscsi::NopOutView{pdu.bhs}.set_target_transfer_tag((flags & 0x40) ? tags.nop : kReservedTag);
            if (advances) ++client.cmd_sn;
            break;
        case Opcode::text_request:
        case Opcode::snack_request:
            pdu.bhs.set_u32(20, in.u32());
            pdu.bhs.set_u32(36, in.u8());
            pdu.bhs.set_u32(40, in.u8());
            break;
        default:
            for (std::size_t off = 32; off < 48; off += 4) pdu.bhs.set_u32(off, in.u32());
            break;
    }
    // Data: up to 239 bytes from the input, or (240 and up) multiples of 4 KiB up to 64 KiB.
    const std::uint8_t length = in.u8();
    pdu.data = in.bytes(length < 240 ? length : (length - 239u) * 4096u);
    return pdu;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    static unsigned runs = 0;
    if (runs++ % 64 == 0) check_serves();

    Input in(data, size);
    const std::uint8_t login_flags = in.u8();
    auto client = connect();
    std::uint32_t max_recv = 262144;
    if ((login_flags & 7) == 0) {
        // Any login: flags (T, C, CSG, NSG) and text from the input.
        auto request = client->login_request({}, LoginStage::operational, LoginStage::full_feature, true);
        request.bhs.set_u8(1, in.u8());
        request.bhs.set_u16(14, in.u16());  // TSIH
        const std::uint8_t length = in.u8();
        request.data = in.bytes(length);
        if (!client->send(request)) return 0;
        auto answer = client->recv(Ms(50));
        if (!answer) {
            check(answer.error() != RecvError::bad_digest);
            return 0;
        }
        check(answer->bhs.opcode() == Opcode::login_response);
        if (iscsi::LoginResponseView{answer->bhs}.status() != iscsi::LoginStatus::success) return 0;
        client->finish_login(std::move(*answer));
    } else {
        TextPairs changes;
        if (login_flags & 0x08) changes.emplace_back("HeaderDigest", "CRC32C");
        if (login_flags & 0x10) changes.emplace_back("DataDigest", "CRC32C");
        if (login_flags & 0x20) changes.emplace_back("ImmediateData", "No");
        if (login_flags & 0x40) changes.emplace_back("InitialR2T", "Yes");
        if (login_flags & 0x80) {
            changes.emplace_back("MaxRecvDataSegmentLength", "512");
            changes.emplace_back("MaxBurstLength", "1024");
            changes.emplace_back("FirstBurstLength", "512");
            max_recv = 512;
        }
        auto login = client->login(with(libiscsi_keys(client->initiator_name), changes));
        check(login.has_value() && login->status() == 0);  // every variant is a valid login
    }

    Tags tags;
    std::uint32_t last_itt = kReservedTag;
    for (int n = 0; n < 32 && !in.empty(); ++n) {
        const std::uint8_t kind = in.u8();
        if (kind == 0xff) {  // raw bytes: a header and whatever follows, framed or not
            std::vector<std::byte> raw = in.bytes(iscsi::kBhsLength + in.u8());
            if (!client->send_bytes(raw)) break;
            continue;
        }
        const Pdu pdu = next_pdu(*client, in, kind, tags, last_itt);
        if (!client->send(pdu)) break;
        // kind bit 7: wait for the answers now (the next Data-Out can follow this R2T)
        if ((kind & 0x80) && !drain(*client, Ms(1), max_recv, tags)) return 0;
    }
    drain(*client, Ms(3), max_recv, tags);
    return 0;
}
