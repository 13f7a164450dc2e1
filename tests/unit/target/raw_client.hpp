// A tiny blocking iSCSI client for protocol tests of the target (STYLE.md rule 9): it sends
// hand-built PDUs over a loopback TCP socket and reads the target's PDUs with a timeout. It keeps
// only the sequence numbers a test needs (ISID, TSIH, CmdSN, ITT, ExpStatSN) and what the target
// last said about its window; every PDU is the test's to build or alter. No second protocol stack.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <asio/executor_work_guard.hpp>
#include <asio/io_context.hpp>
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <tl/expected.hpp>

#include "iscsi/frame.hpp"
#include "iscsi/pdu.hpp"
#include "iscsi/text.hpp"
#include "iscsi/transport.hpp"

namespace iscsikit::target::testing {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;
using Ms = std::chrono::milliseconds;
using iscsi::Bhs;
using iscsi::find_value;
using iscsi::LoginStage;
using iscsi::Opcode;
using iscsi::Pdu;
using iscsi::TextPairs;

inline constexpr std::uint32_t kReservedTag = iscsi::kReservedTag;

enum class RecvError { timeout, closed, bad_digest };

inline const char* recv_error_name(RecvError e) {
    switch (e) {
        case RecvError::timeout: return "timeout";
        case RecvError::closed: return "connection closed";
        case RecvError::bad_digest: return "bad digest from the target";
    }
    return "?";
}

inline std::vector<std::byte> to_bytes(std::string_view s) {
    std::vector<std::byte> out(s.size());
    std::transform(s.begin(), s.end(), out.begin(), [](char c) { return static_cast<std::byte>(c); });
    return out;
}

inline std::vector<std::byte> pattern(std::size_t n, std::uint8_t seed) {
    std::vector<std::byte> out(n);
    for (std::size_t i = 0; i < n; ++i) out[i] = static_cast<std::byte>((i * 7 + seed + i / 512) & 0xff);
    return out;
}

inline std::string describe(const Pdu& pdu) {
    return fmt::format("{} (opcode {:#04x}) ITT {:#x} flags {:#04x} data {} bytes",
                       iscsi::opcode_name(pdu.bhs.opcode()), static_cast<unsigned>(pdu.bhs.opcode()),
                       pdu.bhs.initiator_task_tag(), pdu.bhs.u8(1), pdu.data.size());
}

inline constexpr const char* kTargetIqn = "iqn.2026-11.org.iscsikit:unit-test";

// What libiscsi 1.19 offers in its one login request (notes/iscsi-tests.md §3.1).
inline TextPairs libiscsi_keys(const std::string& initiator, const std::string& target = kTargetIqn) {
    return {{"InitiatorName", initiator},
            {"TargetName", target},
            {"SessionType", "Normal"},
            {"HeaderDigest", "None,CRC32C"},
            {"DataDigest", "None"},
            {"InitialR2T", "No"},
            {"ImmediateData", "Yes"},
            {"MaxBurstLength", "262144"},
            {"FirstBurstLength", "262144"},
            {"DefaultTime2Wait", "2"},
            {"DefaultTime2Retain", "0"},
            {"MaxOutstandingR2T", "1"},
            {"ErrorRecoveryLevel", "0"},
            {"IFMarker", "No"},
            {"OFMarker", "No"},
            {"MaxConnections", "1"},
            {"MaxRecvDataSegmentLength", "262144"},
            {"DataPDUInOrder", "Yes"},
            {"DataSequenceInOrder", "Yes"}};
}

// `keys` with each of `changes` replacing the value of the key of that name (appended when absent).
inline TextPairs with(TextPairs keys, const TextPairs& changes) {
    for (const auto& [k, v] : changes) {
        // clang 14 cannot capture a structured binding in a lambda (C++20 P1091): name it
        const std::string& name = k;
        auto it = std::find_if(keys.begin(), keys.end(), [&](const auto& p) { return p.first == name; });
        if (it != keys.end())
            it->second = v;
        else
            keys.emplace_back(k, v);
    }
    return keys;
}

inline TextPairs without(TextPairs keys, std::string_view key) {
    std::erase_if(keys, [&](const auto& p) { return p.first == key; });
    return keys;
}

// ---- CDBs (SBC-3) ----
using Cdb = std::array<std::uint8_t, 16>;

inline Cdb test_unit_ready() { return Cdb{}; }

inline Cdb rw10(std::uint8_t opcode, std::uint32_t lba, std::uint16_t blocks) {
    Cdb cdb{};
    cdb[0] = opcode;
    cdb[2] = static_cast<std::uint8_t>(lba >> 24);
    cdb[3] = static_cast<std::uint8_t>(lba >> 16);
    cdb[4] = static_cast<std::uint8_t>(lba >> 8);
    cdb[5] = static_cast<std::uint8_t>(lba);
    cdb[7] = static_cast<std::uint8_t>(blocks >> 8);
    cdb[8] = static_cast<std::uint8_t>(blocks);
    return cdb;
}
inline Cdb read10(std::uint32_t lba, std::uint16_t blocks) { return rw10(0x28, lba, blocks); }
inline Cdb write10(std::uint32_t lba, std::uint16_t blocks) { return rw10(0x2a, lba, blocks); }

// The outcome of one SCSI task as the wire showed it.
struct ScsiResult {
    bool completed = false;          // a status arrived (SCSI Response, or Data-In with S)
    std::string error;               // why not, or what else arrived
    bool status_in_data_in = false;  // phase collapse
    std::uint8_t response = 0;
    std::uint8_t status = 0xff;
    bool overflow = false, underflow = false;
    std::uint32_t residual = 0;
    std::vector<std::byte> data;  // Data-In payloads in arrival order
    std::vector<Pdu> data_in;
    std::vector<std::uint8_t> sense;  // sense data after the 2-byte SenseLength
    Pdu final_pdu;

    std::uint8_t sense_key() const { return sense.size() > 2 ? sense[2] & 0x0f : 0xff; }
    std::uint8_t asc() const { return sense.size() > 12 ? sense[12] : 0xff; }
    std::uint8_t ascq() const { return sense.size() > 13 ? sense[13] : 0xff; }
};

class RawClient {
public:
    explicit RawClient(std::uint16_t port, bool tcp = true) {
        static std::uint32_t isid_counter = 0;
        // RFC 7143 §11.12.5: ISID type 10b "random" in the top bits, then a qualifier.
        isid = (std::uint64_t{0x80} << 40) | (std::uint64_t{0x4b1d} << 16) | (++isid_counter & 0xffff);
        if (!tcp) return;
        fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        sockaddr_in addr{};
        addr.sin_family = AF_INET;
        addr.sin_port = htons(port);
        addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        if (fd_ >= 0 && ::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
            ::close(fd_);
            fd_ = -1;
        }
        int one = 1;
        if (fd_ >= 0) ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    }
    // Over the target's in-process seam (Server::connect_in_process): `connect` gets the
    // executor this client runs its end of the pipe on. No socket, no port.
    explicit RawClient(const std::function<std::unique_ptr<iscsi::ByteTransport>(asio::any_io_executor)>& connect)
        : RawClient(std::uint16_t{0}, false) {
        transport_ = connect(io_.get_executor());
    }
    ~RawClient() {
        if (fd_ >= 0) ::close(fd_);
        if (transport_) transport_->close();
    }
    RawClient(const RawClient&) = delete;
    RawClient& operator=(const RawClient&) = delete;

    bool connected() const { return fd_ >= 0 || transport_ != nullptr; }

    // ---- what this client says and what the target last said ----
    std::uint64_t isid;
    std::uint16_t tsih = 0;
    std::uint32_t cmd_sn = 0x1000;  // the CmdSN of the next non-immediate command
    std::uint32_t next_itt = 0x100;
    std::uint32_t exp_stat_sn = 0;
    std::uint32_t exp_cmd_sn = 0;  // from the target's last PDU
    std::uint32_t max_cmd_sn = 0;
    bool header_digest = false;  // both directions, once login has settled them
    bool data_digest = false;
    std::string initiator_name = "iqn.2007-10.com.github:sahlberg:libiscsi:iscsi-test";

    // ---- raw wire ----
    bool send_bytes(ConstByteSpan bytes) {
        if (transport_) {
            std::optional<std::error_code> result;
            const iscsi::OutSegment segment{bytes, {}};
            if (transport_->write(std::span<const iscsi::OutSegment>(&segment, 1),
                                  [&result](std::error_code ec, std::size_t) { result = ec; }))
                return true;  // taken at once
            io_.restart();
            while (!result && io_.run_one() > 0) {
            }
            return result && !*result;
        }
        const std::byte* p = bytes.data();
        std::size_t left = bytes.size();
        while (left > 0) {
            const ssize_t n = ::send(fd_, p, left, MSG_NOSIGNAL);
            if (n < 0 && errno == EINTR) continue;
            if (n <= 0) return false;
            p += n;
            left -= static_cast<std::size_t>(n);
        }
        return true;
    }
    std::vector<std::byte> encode(const Pdu& pdu) const {
        std::vector<std::byte> out;
        iscsi::encode_pdu(pdu, header_digest, data_digest, out);
        return out;
    }
    bool send(const Pdu& pdu) { return send_bytes(encode(pdu)); }

    // The next PDU from the target, with its digests checked when they are on.
    tl::expected<Pdu, RecvError> recv(Ms timeout = 3000ms) {
        const auto deadline = Clock::now() + timeout;
        for (;;) {
            if (rx_.size() >= iscsi::kBhsLength) {
                const iscsi::FrameLimits limits{0xffffff, header_digest, data_digest};
                auto decoded = iscsi::decode_pdu(ConstByteSpan(rx_.data(), rx_.size()), limits);
                if (decoded) {
                    rx_.erase(rx_.begin(), rx_.begin() + static_cast<std::ptrdiff_t>(decoded->consumed));
                    track(decoded->pdu);
                    return std::move(decoded->pdu);
                }
                if (decoded.error() != iscsi::FrameError::truncated) return tl::unexpected(RecvError::bad_digest);
            }
            if (auto e = fill(deadline)) return tl::unexpected(*e);
        }
    }

    // Success when nothing at all arrives for `quiet` (and the connection stays open).
    ::testing::AssertionResult expect_silence(Ms quiet) {
        auto pdu = recv(quiet);
        if (!pdu && pdu.error() == RecvError::timeout) return ::testing::AssertionSuccess();
        if (!pdu) return ::testing::AssertionFailure() << "expected silence, got " << recv_error_name(pdu.error());
        return ::testing::AssertionFailure() << "expected silence, got " << describe(*pdu);
    }

    // Success when the target closes the connection within `timeout`; PDUs before that are kept
    // in `before_close`.
    ::testing::AssertionResult expect_closed(Ms timeout = 3000ms) {
        const auto deadline = Clock::now() + timeout;
        for (;;) {
            const auto left = std::chrono::duration_cast<Ms>(deadline - Clock::now());
            auto pdu = recv(std::max(left, Ms(0)));
            if (pdu) {
                before_close.push_back(std::move(*pdu));
                continue;
            }
            if (pdu.error() == RecvError::closed) return ::testing::AssertionSuccess();
            if (pdu.error() == RecvError::bad_digest) {
                rx_.clear();
                continue;
            }
            return ::testing::AssertionFailure() << "connection still open after " << timeout.count() << " ms";
        }
    }
    std::vector<Pdu> before_close;

    // ---- PDU builders: sequence numbers filled from the client's state ----
    Pdu login_request(const TextPairs& keys, LoginStage csg, LoginStage nsg, bool transit, bool cont = false) {
        Pdu pdu;
        pdu.bhs.set_opcode(Opcode::login_request);
        pdu.bhs.set_immediate(true);
        iscsi::LoginRequestView req{pdu.bhs};
        req.set_transit(transit);
        req.set_continue_(cont);
        req.set_stages(csg, transit ? nsg : LoginStage::security);
        req.set_isid(isid);
        req.set_tsih(tsih);
        pdu.bhs.set_initiator_task_tag(login_itt_);
        req.set_cid(0);
        req.set_cmd_sn(cmd_sn);
        req.set_exp_stat_sn(exp_stat_sn);
        pdu.data = iscsi::build_text(keys);
        return pdu;
    }

    // One login PDU out, one Login Response back.
    tl::expected<Pdu, RecvError> login_step(const Pdu& request, Ms timeout = 3000ms) {
        if (!send(request)) return tl::unexpected(RecvError::closed);
        return recv(timeout);
    }

    struct LoginResult {
        Pdu response;
        TextPairs answers;
        std::uint16_t status() const {
            return static_cast<std::uint16_t>(iscsi::LoginResponseView{response.bhs}.status());
        }
        std::optional<std::string_view> answer(std::string_view key) const& { return find_value(answers, key); }
    };

    // The login libiscsi does: one request with CSG=1, NSG=3, T=1 (§11.12). On a final success
    // the client takes the TSIH and turns on the digests the answers settled.
    tl::expected<LoginResult, RecvError> login(const TextPairs& keys) {
        auto rsp = login_step(login_request(keys, LoginStage::operational, LoginStage::full_feature, true));
        if (!rsp) return tl::unexpected(rsp.error());
        return finish_login(std::move(*rsp));
    }
    LoginResult finish_login(Pdu rsp) {
        LoginResult result;
        result.response = std::move(rsp);
        if (auto pairs = iscsi::parse_text(ConstByteSpan(result.response.data.data(), result.response.data.size())))
            result.answers = std::move(*pairs);
        iscsi::LoginResponseView view{result.response.bhs};
        if (result.status() == 0 && view.transit() && view.next_stage() == LoginStage::full_feature) {
            tsih = view.tsih();
            header_digest = result.answer("HeaderDigest") == "CRC32C";
            data_digest = result.answer("DataDigest") == "CRC32C";
        }
        return result;
    }

    std::uint32_t take_itt() { return next_itt++; }

    Pdu scsi_command(const Cdb& cdb, std::uint32_t edtl, bool read, bool write, std::vector<std::byte> immediate = {},
                     bool final = true, std::uint16_t lun = 0) {
        Pdu pdu;
        pdu.bhs.set_opcode(Opcode::scsi_command);
        iscsi::ScsiCommandView cmd{pdu.bhs};
        pdu.bhs.set_final(final);
        cmd.set_read(read);
        cmd.set_write(write);
        cmd.set_attribute(iscsi::TaskAttribute::simple);
        pdu.bhs.set_lun(std::uint64_t{lun} << 48);  // SAM single-level peripheral addressing
        pdu.bhs.set_initiator_task_tag(take_itt());
        cmd.set_expected_data_transfer_length(edtl);
        cmd.set_cmd_sn(cmd_sn++);
        cmd.set_exp_stat_sn(exp_stat_sn);
        std::copy(cdb.begin(), cdb.end(), reinterpret_cast<std::uint8_t*>(cmd.cdb_bytes()));
        pdu.data = std::move(immediate);
        return pdu;
    }

    Pdu data_out(std::uint32_t itt, std::uint32_t ttt, std::uint32_t data_sn, std::uint32_t offset,
                 std::vector<std::byte> data, bool final, std::uint16_t lun = 0) {
        Pdu pdu;
        pdu.bhs.set_opcode(Opcode::data_out);
        pdu.bhs.set_final(final);
        pdu.bhs.set_lun(std::uint64_t{lun} << 48);
        pdu.bhs.set_initiator_task_tag(itt);
        iscsi::DataOutView out{pdu.bhs};
        out.set_target_transfer_tag(ttt);
        out.set_exp_stat_sn(exp_stat_sn);
        out.set_data_sn(data_sn);
        out.set_buffer_offset(offset);
        pdu.data = std::move(data);
        return pdu;
    }

    // An initiator ping (§11.18): a fresh ITT, TTT 0xffffffff.
    Pdu nop_out(std::vector<std::byte> data = {}, bool immediate = false) {
        Pdu pdu;
        pdu.bhs.set_opcode(Opcode::nop_out);
        pdu.bhs.set_immediate(immediate);
        pdu.bhs.set_final(true);
        pdu.bhs.set_initiator_task_tag(take_itt());
        iscsi::NopOutView nop{pdu.bhs};
        nop.set_target_transfer_tag(kReservedTag);
        nop.set_cmd_sn(immediate ? cmd_sn : cmd_sn++);
        nop.set_exp_stat_sn(exp_stat_sn);
        pdu.data = std::move(data);
        return pdu;
    }

    // The answer to a target ping (§11.18.3): ITT 0xffffffff, the ping's TTT and LUN, immediate.
    Pdu nop_reply(const Pdu& ping) {
        Pdu pdu;
        pdu.bhs.set_opcode(Opcode::nop_out);
        pdu.bhs.set_immediate(true);
        pdu.bhs.set_final(true);
        pdu.bhs.set_lun(ping.bhs.lun());
        pdu.bhs.set_initiator_task_tag(kReservedTag);
        iscsi::NopOutView nop{pdu.bhs};
        nop.set_target_transfer_tag(iscsi::NopInView{ping.bhs}.target_transfer_tag());
        nop.set_cmd_sn(cmd_sn);
        nop.set_exp_stat_sn(exp_stat_sn);
        return pdu;
    }

    // Task management (§11.5): immediate, CmdSN not advanced.
    Pdu task_management(iscsi::TaskFunction function, std::uint32_t referenced_itt, std::uint32_t ref_cmd_sn,
                        std::uint16_t lun = 0) {
        Pdu pdu;
        pdu.bhs.set_opcode(Opcode::task_management_request);
        pdu.bhs.set_immediate(true);
        iscsi::TaskManagementRequestView req{pdu.bhs};
        req.set_function(function);
        pdu.bhs.set_lun(std::uint64_t{lun} << 48);
        pdu.bhs.set_initiator_task_tag(take_itt());
        req.set_referenced_task_tag(referenced_itt);
        req.set_cmd_sn(cmd_sn);
        req.set_exp_stat_sn(exp_stat_sn);
        req.set_ref_cmd_sn(ref_cmd_sn);
        return pdu;
    }

    Pdu logout(iscsi::LogoutReason reason = iscsi::LogoutReason::close_session) {
        Pdu pdu;
        pdu.bhs.set_opcode(Opcode::logout_request);
        pdu.bhs.set_immediate(true);
        iscsi::LogoutRequestView req{pdu.bhs};
        req.set_reason(reason);
        pdu.bhs.set_initiator_task_tag(take_itt());
        req.set_cid(0);
        req.set_cmd_sn(cmd_sn);
        req.set_exp_stat_sn(exp_stat_sn);
        return pdu;
    }

    // Text Request (§11.10), immediate as libiscsi sends it.
    Pdu text_request(std::uint32_t itt, std::vector<std::byte> data, std::uint32_t ttt = kReservedTag) {
        Pdu pdu;
        pdu.bhs.set_opcode(Opcode::text_request);
        pdu.bhs.set_immediate(true);
        pdu.bhs.set_final(true);
        pdu.bhs.set_initiator_task_tag(itt);
        iscsi::TextRequestView req{pdu.bhs};
        req.set_target_transfer_tag(ttt);
        req.set_cmd_sn(cmd_sn);
        req.set_exp_stat_sn(exp_stat_sn);
        pdu.data = std::move(data);
        return pdu;
    }

    // Reads the PDUs of task `itt` until its status: Data-In (collected), then a SCSI Response or a
    // Data-In with S. Anything else (R2T, another ITT, a Reject) ends the wait with `error` set.
    ScsiResult collect(std::uint32_t itt, Ms timeout = 3000ms) {
        ScsiResult r;
        for (;;) {
            auto pdu = recv(timeout);
            if (!pdu) {
                r.error = recv_error_name(pdu.error());
                return r;
            }
            const Bhs& bhs = pdu->bhs;
            if (bhs.initiator_task_tag() != itt ||
                (bhs.opcode() != Opcode::data_in && bhs.opcode() != Opcode::scsi_response)) {
                r.error = "unexpected " + describe(*pdu);
                r.final_pdu = std::move(*pdu);
                return r;
            }
            if (bhs.opcode() == Opcode::data_in) {
                iscsi::DataInView din{bhs};
                r.data.insert(r.data.end(), pdu->data.begin(), pdu->data.end());
                if (din.status_present()) {
                    r.completed = r.status_in_data_in = true;
                    r.status = din.status();
                    r.overflow = din.overflow();
                    r.underflow = din.underflow();
                    r.residual = din.residual_count();
                    r.data_in.push_back(*pdu);
                    r.final_pdu = std::move(*pdu);
                    return r;
                }
                r.data_in.push_back(std::move(*pdu));
                continue;
            }
            iscsi::ScsiResponseView rsp{bhs};
            r.completed = true;
            r.response = rsp.response();
            r.status = rsp.status();
            r.overflow = rsp.overflow();
            r.underflow = rsp.underflow();
            r.residual = rsp.residual_count();
            if (pdu->data.size() >= 2) {
                const std::size_t n = std::min<std::size_t>(load_be16(pdu->data.data()), pdu->data.size() - 2);
                for (std::size_t i = 0; i < n; ++i) r.sense.push_back(static_cast<std::uint8_t>(pdu->data[2 + i]));
            }
            r.final_pdu = std::move(*pdu);
            return r;
        }
    }

    // Sends a command with `data` as immediate data (the session must allow it and the data must
    // fit the target's MaxRecvDataSegmentLength), answers R2Ts from `data`, and collects the result.
    ScsiResult execute(const Cdb& cdb, std::uint32_t edtl, bool read, bool write,
                       const std::vector<std::byte>& data = {}, std::uint16_t lun = 0) {
        auto pdu = scsi_command(cdb, edtl, read, write, data, true, lun);
        const std::uint32_t itt = pdu.bhs.initiator_task_tag();
        ScsiResult r;
        if (!send(pdu)) {
            r.error = "send failed";
            return r;
        }
        for (;;) {
            r = collect(itt);
            if (r.completed || r.final_pdu.bhs.opcode() != Opcode::r2t || r.final_pdu.bhs.initiator_task_tag() != itt)
                return r;
            iscsi::R2tView r2t{r.final_pdu.bhs};
            const std::uint32_t offset = r2t.buffer_offset();
            const std::uint32_t length = r2t.desired_data_transfer_length();
            std::vector<std::byte> chunk(length);
            for (std::uint32_t i = 0; i < length && offset + i < data.size(); ++i) chunk[i] = data[offset + i];
            send(data_out(itt, r2t.target_transfer_tag(), 0, offset, std::move(chunk), true, lun));
        }
    }

private:
    // Reads more bytes into rx_; the error when nothing came before the deadline.
    std::optional<RecvError> fill(Clock::time_point deadline) {
        if (transport_) return fill_from_transport(deadline);
        for (;;) {
            const auto left = std::chrono::duration_cast<Ms>(deadline - Clock::now()).count();
            pollfd p{fd_, POLLIN, 0};
            const int ready = ::poll(&p, 1, static_cast<int>(std::max<long>(left, 0)));
            if (ready < 0 && errno == EINTR) continue;
            if (ready <= 0) return RecvError::timeout;
            std::byte chunk[65536];
            const ssize_t n = ::recv(fd_, chunk, sizeof chunk, 0);
            if (n < 0 && errno == EINTR) continue;
            if (n <= 0) return RecvError::closed;
            rx_.insert(rx_.end(), chunk, chunk + n);
            return std::nullopt;
        }
    }

    // A read stays outstanding across a timeout (into a buffer that lives as long as the client),
    // so waiting for silence does not disturb the stream.
    std::optional<RecvError> fill_from_transport(Clock::time_point deadline) {
        if (!reading_) {
            reading_ = true;
            pipe_chunk_.resize(65536);
            pipe_into_ = ByteSpan(pipe_chunk_);
            transport_->read_some(std::span<const ByteSpan>(&pipe_into_, 1),
                                  [this](std::error_code ec, std::size_t n) { pipe_result_.emplace(ec, n); });
        }
        io_.restart();
        while (!pipe_result_ && Clock::now() < deadline) io_.run_one_until(deadline);
        if (!pipe_result_) return RecvError::timeout;
        const auto [ec, n] = *pipe_result_;
        pipe_result_.reset();
        reading_ = false;
        if (ec || n == 0) return RecvError::closed;
        rx_.insert(rx_.end(), pipe_chunk_.begin(), pipe_chunk_.begin() + static_cast<std::ptrdiff_t>(n));
        return std::nullopt;
    }

    // Every target PDU says where the command window is (§11.4.7); status-bearing ones carry StatSN.
    void track(const Pdu& pdu) {
        const Bhs& bhs = pdu.bhs;
        if (bhs.opcode() == Opcode::login_response &&
            iscsi::LoginResponseView{bhs}.status() != iscsi::LoginStatus::success)
            return;
        const iscsi::TargetSequenceView seq{bhs};
        exp_cmd_sn = seq.exp_cmd_sn();
        max_cmd_sn = seq.max_cmd_sn();
        const bool has_status =
            (bhs.opcode() == Opcode::data_in && iscsi::DataInView{bhs}.status_present()) ||
            (bhs.opcode() == Opcode::nop_in && bhs.initiator_task_tag() != kReservedTag) ||
            (bhs.opcode() != Opcode::data_in && bhs.opcode() != Opcode::r2t && bhs.opcode() != Opcode::nop_in);
        if (has_status) exp_stat_sn = seq.stat_sn() + 1;
    }

    int fd_ = -1;
    asio::io_context io_;  // runs the pipe end's completions
    // A read waiting in the pipe is no work to Asio: without this, run_one_until would return at once.
    asio::executor_work_guard<asio::io_context::executor_type> work_{io_.get_executor()};
    std::vector<std::byte> pipe_chunk_;
    ByteSpan pipe_into_;
    bool reading_ = false;
    std::optional<std::pair<std::error_code, std::size_t>> pipe_result_;
    std::unique_ptr<iscsi::ByteTransport> transport_;  // in-process seam, instead of fd_
    std::uint32_t login_itt_ = 0x4c000001;             // the same ITT in every PDU of a login (libiscsi does this)
    std::vector<std::byte> rx_;
};

}  // namespace iscsikit::target::testing
