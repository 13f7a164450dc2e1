// Unit attention conditions per I_T nexus (SAM-5 §5.14, SPC-4 §5.11) and the registry of
// nexuses a logical unit has seen. A nexus starts with POWER ON, RESET, OR BUS DEVICE RESET
// OCCURRED pending; each UA is reported once, oldest first (UA_INTLCK_CTRL 00b).
#include <algorithm>

#include "scsi/lu_state.hpp"

namespace iscsikit::scsi::detail {

bool KnownNexuses::contains(std::uint64_t nexus) const {
    const std::uint64_t key = nexus + 1;
    if (key == kEmpty || key == kTombstone) return false;  // not representable: always the locked path
    for (std::size_t i = 0, at = home(key); i < kSlots; ++i, at = (at + 1) & (kSlots - 1)) {
        const std::uint64_t v = slots_[at].load(std::memory_order_acquire);
        if (v == key) return true;
        if (v == kEmpty) return false;
    }
    return false;
}

void KnownNexuses::insert(std::uint64_t nexus) {
    const std::uint64_t key = nexus + 1;
    if (key == kEmpty || key == kTombstone || contains(nexus)) return;
    for (std::size_t i = 0, at = home(key); i < kSlots; ++i, at = (at + 1) & (kSlots - 1)) {
        const std::uint64_t v = slots_[at].load(std::memory_order_relaxed);
        if (v == kEmpty || v == kTombstone) {
            slots_[at].store(key, std::memory_order_release);
            return;
        }
    }
    // Full: this nexus simply keeps taking the locked path.
}

void KnownNexuses::erase(std::uint64_t nexus) {
    const std::uint64_t key = nexus + 1;
    for (std::size_t i = 0, at = home(key); i < kSlots; ++i, at = (at + 1) & (kSlots - 1)) {
        const std::uint64_t v = slots_[at].load(std::memory_order_relaxed);
        if (v == key) {
            slots_[at].store(kTombstone, std::memory_order_release);
            return;
        }
        if (v == kEmpty) return;
    }
}

void KnownNexuses::clear() {
    for (auto& slot : slots_) slot.store(kEmpty, std::memory_order_release);
}

NexusState& LuState::nexus_locked(std::uint64_t nexus) {
    auto [it, fresh] = nexuses.try_emplace(nexus);
    if (fresh) {
        queue_ua_locked(it->second, 0x29, 0x00);  // SAM-5 §5.14: POWER ON, RESET, OR BUS DEVICE RESET OCCURRED
        known.insert(nexus);
        quiet.store(false, std::memory_order_release);
    }
    return it->second;
}

void LuState::queue_ua_locked(NexusState& n, std::uint8_t asc, std::uint8_t ascq) {
    if (n.ua_count == 0) ++nexuses_with_ua;
    auto begin = n.ua.begin();
    auto end = begin + n.ua_count;
    if (asc == 0x29) {
        // SPC-4 §5.11: a reset/power-on condition replaces the other 29h conditions and goes first.
        end = std::remove_if(begin, end, [](const auto& ua) { return ua.first == 0x29; });
        if (end == n.ua.end()) --end;  // full: the newest other condition makes room
        std::move_backward(begin, end, end + 1);
        *begin = {asc, ascq};
        n.ua_count = static_cast<std::uint8_t>(end + 1 - begin);
    } else if (std::find(begin, end, std::pair{asc, ascq}) == end && n.ua_count < n.ua.size()) {
        n.ua[n.ua_count++] = {asc, ascq};
    }
    quiet.store(false, std::memory_order_release);
}

std::optional<Sense> LuState::take_ua_locked(std::uint64_t nexus) {
    auto it = nexuses.find(nexus);
    if (it == nexuses.end() || it->second.ua_count == 0) return std::nullopt;
    NexusState& n = it->second;
    const auto [asc, ascq] = n.ua[0];
    std::move(n.ua.begin() + 1, n.ua.begin() + n.ua_count, n.ua.begin());
    if (--n.ua_count == 0) {
        --nexuses_with_ua;
        update_quiet_locked();
    }
    return Sense::unit_attention(asc, ascq);
}

void LuState::forget_locked(std::uint64_t nexus) {
    auto it = nexuses.find(nexus);
    if (it == nexuses.end()) return;
    // SPC-2 §5.5.1 and SBC-3 §5.15: an I_T nexus loss releases its reservation and its prevent.
    if (it->second.ua_count != 0) --nexuses_with_ua;
    if (it->second.prevent) --prevent_count;
    if (reservation == nexus) reservation.reset();
    nexuses.erase(it);
    known.erase(nexus);
}

void LuState::update_quiet_locked() {
    quiet.store(nexuses_with_ua == 0 && !reservation && !pr.reservation, std::memory_order_release);
}

}  // namespace iscsikit::scsi::detail
