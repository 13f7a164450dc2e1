// Fuzzes CDB parsing: random CDBs with random parameter data run through a scsi::Device the way
// the target runs them (Command, expected transfer length, data-out cut to what the CDB asks
// for, one completion). Every command must complete exactly once with a SAM-5 status, CHECK
// CONDITION must carry well-formed sense, and data-in never exceeds the CDB's allocation length.
//
// Input: byte 0 picks the device (bit 0: storage completes later, as io_uring does; bit 1: 4096-byte
// blocks on LUN 0; bit 2: leave the power-on unit attention in place), then up to 16 records:
//   ctl, selector, CDB bytes 1-15, expected transfer length (2 bytes), data length (2), data.
// ctl bits 0-1: LUN 0 (thick), 1 (thin), 7 (absent), 0; bit 2: second I_T nexus; bit 3: the
// selector is the raw opcode (else it picks a row of the opcode table, service action included);
// bit 4: expected length in 512-byte units; bit 5: repeat the data up to what the CDB asks for.
#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <optional>

#include "fuzz_input.hpp"
#include "../unit/scsi/deferred_store.hpp"
#include "backstore/backstore.hpp"
#include "scsi/logical_unit.hpp"
#include "scsi/opcodes.hpp"

using namespace iscsikit;
using namespace iscsikit::scsi;

namespace {

using fuzz::check;
using fuzz::Input;

constexpr std::uint32_t kMaxDataOut = 256 * 1024;  // keeps WRITE over the whole LU cheap
constexpr std::uint64_t kAbsentLun = 7;

std::unique_ptr<backstore::Backstore> ram(std::uint64_t blocks, std::uint32_t block_size, bool thin) {
    backstore::Options options;
    options.block_size = block_size;
    options.size = blocks * block_size;
    options.thin = thin;
    auto store = backstore::make_ram(options);
    check(store.has_value());
    return std::move(*store);
}

LuIdentity identity(const char* serial, bool thin) {
    LuIdentity id;
    id.serial = serial;
    id.naa = 0x6001405123456789ull;
    id.target_port_name = "iqn.2026-11.org.iscsikit:fuzz,t,0x0001";
    id.thin = thin;
    return id;
}

std::uint64_t be(const Cdb& cdb, std::size_t at, std::size_t bytes) {
    std::uint64_t v = 0;
    for (std::size_t i = 0; i < bytes; ++i) v = (v << 8) | cdb[at + i];
    return v;
}

// The most data-in a CDB allows (SPC-4 §4.2.5.6 ALLOCATION LENGTH, SBC-3 TRANSFER LENGTH), by
// opcode; 0 for commands that return none.
std::uint64_t allowed_data_in(const Cdb& cdb, std::uint32_t block_size) {
    switch (cdb[0]) {
        case 0x03:
        case 0x1a: return cdb[4];         // REQUEST SENSE, MODE SENSE(6)
        case 0x12: return be(cdb, 3, 2);  // INQUIRY
        case 0x25: return 8;              // READ CAPACITY(10)
        case 0x37:
        case 0x5a:
        case 0x5e: return be(cdb, 7, 2);   // READ DEFECT DATA(10), MODE SENSE(10), PR IN
        case 0x84:                         // RECEIVE COPY RESULTS
        case 0x9e: return be(cdb, 10, 4);  // READ CAPACITY(16), GET LBA STATUS
        case 0xa0:
        case 0xa3:
        case 0xb7: return be(cdb, 6, 4);  // REPORT LUNS, RSOC and RTPG, READ DEFECT DATA(12)
        case 0x08: return std::uint64_t{cdb[4] ? cdb[4] : 256u} * block_size;  // READ(6): 0 means 256
        case 0x28: return be(cdb, 7, 2) * block_size;
        case 0xa8: return be(cdb, 6, 4) * block_size;
        case 0x88: return be(cdb, 10, 4) * block_size;
        default: return 0;
    }
}

bool legal_status(Status s) {
    switch (s) {
        case Status::good:
        case Status::check_condition:
        case Status::condition_met:
        case Status::busy:
        case Status::reservation_conflict:
        case Status::task_set_full:
        case Status::aca_active:
        case Status::task_aborted: return true;
    }
    return false;
}

void check_sense(const Sense& sense) {
    check(sense.key != SenseKey::no_sense && static_cast<unsigned>(sense.key) <= 0xf);
    if (sense.field_pointer && sense.field_in_cdb) check(*sense.field_pointer < 16);
    if (sense.bit_pointer) check(sense.field_pointer.has_value() && *sense.bit_pointer < 8);
    const auto fixed = sense.encode_fixed();
    check(fixed.size() == Sense::kFixedLength);
    check(fixed[0] == 0x70 || fixed[0] == 0xf0);  // current error, VALID when INFORMATION is set
    check((fixed[2] & 0x0f) == static_cast<std::uint8_t>(sense.key));
    check(fixed[7] == Sense::kFixedLength - 8);
    check(fixed[12] == sense.asc && fixed[13] == sense.ascq);
    const auto descriptor = sense.encode_descriptor();
    check(descriptor.size() >= 8 && descriptor[0] == 0x72);
    check((descriptor[1] & 0x0f) == static_cast<std::uint8_t>(sense.key));
    check(descriptor[7] + 8u == descriptor.size());
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    Input in(data, size);
    const std::uint8_t device_flags = in.u8();
    const bool deferred = device_flags & 1;
    const std::uint32_t block_size = (device_flags & 2) ? 4096 : 512;

    // Small LUs, fresh for every input so that a crash reproduces from its input alone.
    test::DeferredStore* deferred_stores[2] = {nullptr, nullptr};
    auto wrap = [&](std::unique_ptr<backstore::Backstore> store, int slot) -> std::unique_ptr<backstore::Backstore> {
        if (!deferred) return store;
        auto d = std::make_unique<test::DeferredStore>(std::move(store));
        deferred_stores[slot] = d.get();
        return d;
    };
    Device device;
    device.add(0, std::make_shared<LogicalUnit>(identity("FUZZ0", false), wrap(ram(64, block_size, false), 0)));
    device.add(1, std::make_shared<LogicalUnit>(identity("FUZZ1", true), wrap(ram(128, 512, true), 1)));
    test::NullIoEngine io;
    const auto& table = detail::opcode_table();

    auto run = [&](Command& cmd) {
        int completions = 0;
        device.execute(cmd, io, [&completions] { ++completions; });
        for (bool more = true; more;) {
            more = false;
            for (auto* d : deferred_stores)
                if (d && d->drain() > 0) more = true;
        }
        check(completions == 1);
    };
    if (!(device_flags & 4)) {
        Command tur;  // takes the power-on unit attention of nexus 1 (SAM-5 §5.14)
        tur.nexus = 1;
        run(tur);
    }

    for (int record = 0; record < 16 && !in.empty(); ++record) {
        const std::uint8_t ctl = in.u8();
        const std::uint8_t selector = in.u8();
        Command cmd;
        for (std::size_t i = 1; i < cmd.cdb.size(); ++i) cmd.cdb[i] = in.u8();
        if (ctl & 8) {
            cmd.cdb[0] = selector;
        } else {
            const auto& row = table[selector % table.size()];
            cmd.cdb[0] = row.opcode;
            if (row.has_service_action)
                cmd.cdb[1] = static_cast<std::uint8_t>((cmd.cdb[1] & 0xe0) | row.service_action);
        }
        static constexpr std::uint64_t kLuns[] = {0, 1, kAbsentLun, 0};
        cmd.lun = kLuns[ctl & 3];
        cmd.nexus = (ctl & 4) ? 2 : 1;
        const std::uint32_t expected = std::uint32_t{in.u16()} * ((ctl & 0x10) ? 512 : 1);
        cmd.expected_transfer_length = expected;
        const auto bytes = in.take(in.u16());

        // Data-out as the target gathers it: what the CDB asks for, bounded by the expected length.
        const LogicalUnit* unit = device.find(cmd.lun);
        const std::uint32_t asked = unit ? unit->data_out_length(cmd.cdb).value_or(0) : 0;
        const std::uint32_t wanted = std::min({asked, expected, kMaxDataOut});
        const std::size_t arrived =
            (ctl & 0x20) && !bytes.empty() ? wanted : std::min<std::size_t>(wanted, bytes.size());
        cmd.buffer.resize(arrived);
        for (std::size_t i = 0; i < arrived; ++i) cmd.buffer[i] = std::byte{bytes[i % bytes.size()]};

        run(cmd);

        check(legal_status(cmd.status));
        if (cmd.status == Status::check_condition) check_sense(cmd.sense);
        check(cmd.data_in_length <= cmd.buffer.size());
        const std::uint32_t lu_block = unit ? unit->block_size() : 512;
        check(cmd.data_in_length <= allowed_data_in(cmd.cdb, lu_block));
    }
    return 0;
}
