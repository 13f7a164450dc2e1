#include "target/metrics.hpp"

namespace iscsikit::target {

namespace {

// SBC-3 opcodes of the READ and WRITE families (6, 10, 12, 16 byte CDBs; WRITE AND VERIFY writes).
constexpr std::array<CommandKind, 256> make_kinds() {
    std::array<CommandKind, 256> kinds{};
    for (auto& k : kinds) k = CommandKind::other;
    for (std::uint8_t op : {0x08, 0x28, 0xa8, 0x88}) kinds[op] = CommandKind::read;
    for (std::uint8_t op : {0x0a, 0x2a, 0xaa, 0x8a, 0x2e, 0xae, 0x8e}) kinds[op] = CommandKind::write;
    return kinds;
}
constexpr std::array<CommandKind, 256> kKinds = make_kinds();

}  // namespace

CommandKind command_kind(std::uint8_t opcode) { return kKinds[opcode]; }

const char* command_kind_name(CommandKind kind) {
    switch (kind) {
        case CommandKind::read: return "read";
        case CommandKind::write: return "write";
        case CommandKind::other: return "other";
    }
    return "other";
}

LunCounters::LunCounters(std::size_t reactors)
    : reactors_(reactors ? reactors : 1), shards_(std::make_unique<Shard[]>(reactors_)) {}

LunStats LunCounters::stats() const {
    LunStats out;
    for (std::size_t s = 0; s < reactors_; ++s) {
        for (std::size_t k = 0; k < kCommandKinds; ++k) {
            const auto& from = shards_[s].kinds[k];
            auto& to = out.kinds[k];
            to.commands += from.commands.load(std::memory_order_relaxed);
            to.errors += from.errors.load(std::memory_order_relaxed);
            to.bytes += from.bytes.load(std::memory_order_relaxed);
            for (std::size_t b = 0; b < kLatencyBuckets; ++b)
                to.buckets[b] += from.buckets[b].load(std::memory_order_relaxed);
            to.duration_ns += from.duration_ns.load(std::memory_order_relaxed);
        }
    }
    return out;
}

LunCounters& TargetCounters::lun(std::uint64_t number) {
    std::lock_guard lock(mutex_);
    auto& slot = luns_[number];
    if (!slot) slot = std::make_unique<LunCounters>(reactors_);
    return *slot;
}

LoginFailure login_failure(iscsi::LoginStatus status) {
    using iscsi::LoginStatus;
    switch (status) {
        case LoginStatus::authentication_failure: return LoginFailure::authentication;
        case LoginStatus::authorization_failure: return LoginFailure::authorization;
        case LoginStatus::not_found:
        case LoginStatus::target_removed: return LoginFailure::not_found;
        default: break;
    }
    // RFC 7143 §11.13.5: the class is the high byte; 03h is a target error.
    return (static_cast<unsigned>(status) >> 8) == 0x03 ? LoginFailure::target_error : LoginFailure::initiator_error;
}

const char* login_failure_name(LoginFailure reason) {
    switch (reason) {
        case LoginFailure::authentication: return "authentication";
        case LoginFailure::authorization: return "authorization";
        case LoginFailure::not_found: return "not_found";
        case LoginFailure::initiator_error: return "initiator_error";
        case LoginFailure::target_error: return "target_error";
    }
    return "initiator_error";
}

}  // namespace iscsikit::target
