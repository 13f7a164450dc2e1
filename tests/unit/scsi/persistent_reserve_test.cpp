// Persistent reservations (SPC-4 §5.13) on one LU, seen from several I_T nexuses: 1 and 2 register
// and reserve, 3 stays unregistered unless a test says otherwise.
#include <cstdio>
#include <functional>
#include <optional>
#include <string>

#include "scsi_test_support.hpp"

namespace iscsikit::scsi::test {
namespace {

// SPC-4 §6.16.1 service actions and §6.16.2 types.
constexpr std::uint8_t kRegister = 0, kReserve = 1, kRelease = 2, kClear = 3, kPreempt = 4, kPreemptAndAbort = 5,
                       kRegisterAndIgnore = 6, kRegisterAndMove = 7;
constexpr std::uint8_t kWe = 1, kEa = 3, kWeRo = 5, kEaRo = 6, kWeAr = 7, kEaAr = 8;
constexpr std::uint8_t kAllTypes[] = {kWe, kEa, kWeRo, kEaRo, kWeAr, kEaAr};
constexpr std::uint64_t kKey1 = 0x1111111111111111ull, kKey2 = 0x2222222222222222ull, kKey3 = 0x3333333333333333ull;

Bytes prin(std::uint8_t service_action, std::uint16_t allocation) {
    return {0x5e, service_action, 0, 0, 0, 0, 0, std::uint8_t(allocation >> 8), std::uint8_t(allocation), 0};
}

Bytes prout(std::uint8_t service_action, std::uint8_t scope_type = 0, std::uint32_t length = 24) {
    return {0x5f,
            service_action,
            scope_type,
            0,
            0,
            std::uint8_t(length >> 24),
            std::uint8_t(length >> 16),
            std::uint8_t(length >> 8),
            std::uint8_t(length),
            0};
}

void put64(Bytes& b, std::size_t at, std::uint64_t v) {
    for (int i = 0; i < 8; ++i) b[at + static_cast<std::size_t>(i)] = std::uint8_t(v >> (56 - 8 * i));
}

std::uint64_t get64(const Bytes& b, std::size_t at) {
    std::uint64_t v = 0;
    for (int i = 0; i < 8; ++i) v = (v << 8) | b[at + static_cast<std::size_t>(i)];
    return v;
}

std::uint32_t get32(const Bytes& b, std::size_t at) {
    return (std::uint32_t{b[at]} << 24) | (b[at + 1] << 16) | (b[at + 2] << 8) | b[at + 3];
}

// SPC-4 §6.16.3: the basic parameter list.
Bytes parameters(std::uint64_t key, std::uint64_t service_action_key, std::uint8_t byte20 = 0) {
    Bytes p(24, 0);
    put64(p, 0, key);
    put64(p, 8, service_action_key);
    p[20] = byte20;
    return p;
}

class Pr : public Harness {
public:
    Pr() {
        clear_power_on(2);
        clear_power_on(3);
    }

    Command out(std::uint64_t nexus, std::uint8_t action, std::uint64_t key, std::uint64_t sa_key = 0,
                std::uint8_t type = 0) {
        return run(prout(action, type), parameters(key, sa_key), nexus);
    }
    void enroll(std::uint64_t nexus, std::uint64_t key) { expect_good(out(nexus, kRegisterAndIgnore, 0, key)); }
    // Nexus 1 (kKey1) and 2 (kKey2) registered, 1 holding a reservation of `type`.
    void reserved_by_first(std::uint8_t type) {
        enroll(1, kKey1);
        enroll(2, kKey2);
        expect_good(out(1, kReserve, kKey1, 0, type));
    }

    Bytes in(std::uint8_t action, std::uint64_t nexus = 3, std::uint16_t allocation = 4096) {
        const Command c = run(prin(action, allocation), {}, nexus);
        expect_good(c);
        return bytes_of(c);
    }
    std::uint32_t generation() { return get32(in(0), 0); }
    std::vector<std::uint64_t> keys() {
        const Bytes d = in(0);
        std::vector<std::uint64_t> out;
        for (std::size_t at = 8; at < d.size(); at += 8) out.push_back(get64(d, at));
        return out;
    }
};

void expect_conflict(const Command& c) {
    EXPECT_EQ(c.status, Status::reservation_conflict);
    EXPECT_EQ(c.sense.key, SenseKey::no_sense);
}

void expect_ua(Pr& h, std::uint64_t nexus, std::uint8_t asc, std::uint8_t ascq) {
    expect_sense(h.run({0x00, 0, 0, 0, 0, 0}, {}, nexus), SenseKey::unit_attention, asc, ascq);
}

void expect_no_ua(Pr& h, std::uint64_t nexus) { expect_good(h.run({0x00, 0, 0, 0, 0, 0}, {}, nexus)); }

// ---- REGISTER and REGISTER AND IGNORE EXISTING KEY (SPC-4 §5.13.7) ----

TEST(PersistentReserveRegister, KeysAreListedInOrderAndEachRegisterCountsAGeneration) {
    Pr h;
    EXPECT_EQ(h.in(0), (Bytes{0, 0, 0, 0, 0, 0, 0, 0}));
    expect_good(h.out(1, kRegister, 0, kKey1));
    h.enroll(2, kKey2);
    const Bytes d = h.in(0);
    ASSERT_EQ(d.size(), 24u);
    EXPECT_EQ(get32(d, 0), 2u);   // PRGENERATION
    EXPECT_EQ(get32(d, 4), 16u);  // ADDITIONAL LENGTH
    EXPECT_EQ(get64(d, 8), kKey1);
    EXPECT_EQ(get64(d, 16), kKey2);
}

TEST(PersistentReserveRegister, WrongReservationKeyConflictsAndChangesNothing) {
    Pr h;
    h.enroll(1, kKey1);
    // libiscsi's prout_reregister_key_fails: REGISTER with RESERVATION KEY 0 from a registrant.
    expect_conflict(h.out(1, kRegister, 0, kKey3));
    expect_conflict(h.out(1, kRegister, kKey2, kKey3));
    expect_conflict(h.out(2, kRegister, kKey1, kKey3));  // unregistered with a nonzero key
    EXPECT_EQ(h.generation(), 1u);
    EXPECT_EQ(h.keys(), (std::vector<std::uint64_t>{kKey1}));
}

TEST(PersistentReserveRegister, NewKeyReplacesAndZeroUnregisters) {
    Pr h;
    h.enroll(1, kKey1);
    expect_good(h.out(1, kRegister, kKey1, kKey2));
    EXPECT_EQ(h.keys(), (std::vector<std::uint64_t>{kKey2}));
    expect_good(h.out(1, kRegisterAndIgnore, 0, kKey3));  // ignores the key it holds
    EXPECT_EQ(h.keys(), (std::vector<std::uint64_t>{kKey3}));
    expect_good(h.out(1, kRegister, kKey3, 0));
    EXPECT_TRUE(h.keys().empty());
    expect_good(h.out(1, kRegister, 0, 0));  // unregistered, nothing to do: still GOOD
    EXPECT_EQ(h.generation(), 5u);
}

TEST(PersistentReserveRegister, RegistrationsOutliveTheNexusAndResets) {
    Pr h;
    h.enroll(1, kKey1);
    h.lu->forget_nexus(1);
    h.lu->reset();
    expect_ua(h, 3, 0x29, 0x03);
    EXPECT_EQ(h.keys(), (std::vector<std::uint64_t>{kKey1}));
}

// ---- RESERVE and RELEASE (SPC-4 §5.13.9, §5.13.11.2) ----

TEST(PersistentReserveReserve, EachTypeIsReportedByReadReservation) {
    Pr h;
    h.enroll(1, kKey1);
    for (const std::uint8_t type : kAllTypes) {
        SCOPED_TRACE(int(type));
        expect_good(h.out(1, kReserve, kKey1, 0, type));
        const std::uint64_t key = (type == kWeAr || type == kEaAr) ? 0 : kKey1;  // all registrants: zero
        Bytes expected{0, 0, 0, 1, 0, 0, 0, 16};
        expected.resize(24, 0);
        put64(expected, 8, key);
        expected[21] = type;
        EXPECT_EQ(h.in(1), expected);
        expect_good(h.out(1, kRelease, kKey1, 0, type));
        EXPECT_EQ(h.in(1), (Bytes{0, 0, 0, 1, 0, 0, 0, 0}));
    }
    EXPECT_EQ(h.generation(), 1u);  // RESERVE and RELEASE do not count
}

TEST(PersistentReserveReserve, NeedsTheRegisteredKey) {
    Pr h;
    expect_conflict(h.out(1, kReserve, 0, 0, kWe));
    h.enroll(1, kKey1);
    expect_conflict(h.out(1, kReserve, kKey2, 0, kWe));
    EXPECT_EQ(h.in(1), (Bytes{0, 0, 0, 1, 0, 0, 0, 0}));
}

TEST(PersistentReserveReserve, AnotherNexusOrAnotherTypeConflicts) {
    Pr h;
    h.enroll(1, kKey1);
    h.enroll(2, kKey2);
    expect_good(h.out(1, kReserve, kKey1, 0, kWe));
    expect_good(h.out(1, kReserve, kKey1, 0, kWe));  // the same again: nothing changes
    expect_conflict(h.out(1, kReserve, kKey1, 0, kEa));
    expect_conflict(h.out(2, kReserve, kKey2, 0, kWe));
    // Under an all registrants type every registrant holds it, and may reserve it again.
    expect_good(h.out(1, kRelease, kKey1, 0, kWe));
    expect_good(h.out(1, kReserve, kKey1, 0, kEaAr));
    expect_good(h.out(2, kReserve, kKey2, 0, kEaAr));
}

TEST(PersistentReserveReserve, InvalidScopeOrTypeIsAFieldOfTheCdb) {
    Pr h;
    h.enroll(1, kKey1);
    for (const std::uint8_t type : {0, 2, 4, 9, 15}) expect_invalid_cdb_field(h.out(1, kReserve, kKey1, 0, type), 2);
    expect_invalid_cdb_field(h.out(1, kReserve, kKey1, 0, 0x10 | kWe), 2);  // SCOPE 1h
}

TEST(PersistentReserveRelease, OnlyTheHolderReleasesAndOnlyWithTheSameType) {
    Pr h;
    h.enroll(1, kKey1);
    h.enroll(2, kKey2);
    expect_good(h.out(2, kRelease, kKey2, 0, kWe));  // nothing reserved: GOOD
    expect_good(h.out(1, kReserve, kKey1, 0, kWe));
    expect_good(h.out(2, kRelease, kKey2, 0, kWe));  // not the holder: GOOD, and it stays
    EXPECT_EQ(h.in(1).size(), 24u);
    expect_conflict(h.out(2, kRelease, kKey1, 0, kWe));  // wrong key
    expect_conflict(h.out(3, kRelease, 0, 0, kWe));      // unregistered
    expect_sense(h.out(1, kRelease, kKey1, 0, kEa), SenseKey::illegal_request, 0x26, 0x04);
    EXPECT_EQ(h.in(1).size(), 24u);
    expect_good(h.out(1, kRelease, kKey1, 0, kWe));
    EXPECT_EQ(h.in(1).size(), 8u);
    expect_no_ua(h, 2);  // Write Exclusive: nobody is told
}

TEST(PersistentReserveRelease, RegistrantsOnlyAndAllRegistrantsTellTheOtherRegistrants) {
    for (const std::uint8_t type : {kWeRo, kEaRo, kWeAr, kEaAr}) {
        SCOPED_TRACE(int(type));
        Pr h;
        h.reserved_by_first(type);
        expect_good(h.out(1, kRelease, kKey1, 0, type));
        expect_ua(h, 2, 0x2a, 0x04);  // RESERVATIONS RELEASED
        expect_no_ua(h, 1);
        expect_no_ua(h, 3);  // not registered
    }
}

TEST(PersistentReserveRegister, UnregisteringTheHolderReleases) {
    for (const std::uint8_t type : {kWe, kEa, kWeRo, kEaRo}) {
        SCOPED_TRACE(int(type));
        Pr h;
        h.reserved_by_first(type);
        expect_good(h.out(1, kRegister, kKey1, 0));
        EXPECT_EQ(h.in(1).size(), 8u);
        if (type == kWeRo || type == kEaRo)
            expect_ua(h, 2, 0x2a, 0x04);
        else
            expect_no_ua(h, 2);
    }
}

TEST(PersistentReserveRegister, AllRegistrantsReservationLastsUntilTheLastRegistrantGoes) {
    Pr h;
    h.enroll(1, kKey1);
    h.enroll(2, kKey2);
    expect_good(h.out(1, kReserve, kKey1, 0, kWeAr));
    expect_good(h.out(1, kRegister, kKey1, 0));
    EXPECT_EQ(h.in(1)[21], kWeAr);
    expect_good(h.out(2, kRegister, kKey2, 0));
    EXPECT_EQ(h.in(1).size(), 8u);
}

// ---- access under each type (SPC-4 §5.13.1, SBC-3 §4.17) ----

struct Access {
    std::uint8_t type;
    bool registered_reads, registered_writes, unregistered_reads, unregistered_writes;
};

TEST(PersistentReserveAccess, ReadsAndWritesFromOtherNexusesFollowTheType) {
    // The expectations of libiscsi's ProutReserve.Access* tests.
    const Access table[] = {
        {kWe, true, false, true, false},   {kEa, false, false, false, false}, {kWeRo, true, true, true, false},
        {kEaRo, true, true, false, false}, {kWeAr, true, true, true, false},  {kEaAr, true, true, false, false},
    };
    for (const Access& a : table) {
        SCOPED_TRACE(int(a.type));
        Pr h;
        h.reserved_by_first(a.type);
        const auto works = [&](std::uint64_t nexus, bool write) {
            const Command c = write ? h.run(write10(1, 1), pattern(512, 3), nexus) : h.run(read10(1, 1), {}, nexus);
            if (c.status != Status::good) expect_conflict(c);
            return c.status == Status::good;
        };
        EXPECT_TRUE(works(1, false));
        EXPECT_TRUE(works(1, true));
        EXPECT_EQ(works(2, false), a.registered_reads);
        EXPECT_EQ(works(2, true), a.registered_writes);
        EXPECT_EQ(works(3, false), a.unregistered_reads);
        EXPECT_EQ(works(3, true), a.unregistered_writes);
    }
}

TEST(PersistentReserveAccess, CommandsAllowedUnderEveryTypeAndThoseOnlyWriteExclusiveAllows) {
    for (const std::uint8_t type : {kWe, kEa}) {
        SCOPED_TRACE(int(type));
        Pr h;
        h.enroll(1, kKey1);
        expect_good(h.out(1, kReserve, kKey1, 0, type));
        // SPC-4 §5.13.1: allowed under every type.
        expect_good(h.run({0x00, 0, 0, 0, 0, 0}, {}, 3));                  // TEST UNIT READY
        expect_good(h.run({0x12, 0, 0, 0, 36, 0}, {}, 3));                 // INQUIRY
        expect_good(h.run({0x25, 0, 0, 0, 0, 0, 0, 0, 0, 0}, {}, 3));      // READ CAPACITY(10)
        expect_good(h.run({0x03, 0, 0, 0, 18, 0}, {}, 3));                 // REQUEST SENSE
        expect_good(h.run(prin(0, 64), {}, 3));                            // PERSISTENT RESERVE IN
        expect_good(h.run({0x1e, 0, 0, 0, 0, 0}, {}, 3));                  // PREVENT ALLOW, PREVENT 00b
        expect_good(h.run({0x1b, 0, 0, 0, 0x01, 0}, {}, 3));               // START STOP UNIT, START 1
        expect_conflict(h.run({0x1b, 0, 0, 0, 0x00, 0}, {}, 3));           // ... START 0
        expect_conflict(h.run({0x35, 0, 0, 0, 0, 0, 0, 0, 0, 0}, {}, 3));  // SYNCHRONIZE CACHE
        expect_conflict(h.run({0x15, 0x10, 0, 0, 0, 0}, {}, 3));           // MODE SELECT(6)
        // ALLOW COMMANDS 011b: MODE SENSE passes Write Exclusive, not Exclusive Access.
        const Command sense = h.run({0x1a, 0, 0x3f, 0, 255, 0}, {}, 3);
        if (type == kWe)
            expect_good(sense);
        else
            expect_conflict(sense);
    }
}

TEST(PersistentReserveAccess, ReleaseRestoresTheLockFreePath) {
    Pr h;
    h.enroll(1, kKey1);
    expect_good(h.out(1, kReserve, kKey1, 0, kEa));
    expect_conflict(h.run(read10(0, 1), {}, 3));
    expect_good(h.out(1, kRelease, kKey1, 0, kEa));
    expect_good(h.run(read10(0, 1), {}, 3));
    expect_good(h.run(write10(0, 1), pattern(512, 1), 3));
}

TEST(PersistentReserveAccess, LunResetAndNexusLossKeepThePersistentReservation) {
    Pr h;
    h.enroll(1, kKey1);
    expect_good(h.out(1, kReserve, kKey1, 0, kWe));
    h.lu->reset();
    h.lu->forget_nexus(1);
    expect_ua(h, 3, 0x29, 0x03);
    expect_conflict(h.run(write10(0, 1), pattern(512, 1), 3));
    expect_ua(h, 1, 0x29, 0x00);  // a new nexus with the same identity: still the holder
    expect_good(h.run(write10(0, 1), pattern(512, 1), 1));
}

// ---- RESERVE(6) and RELEASE(6) against persistent reservations (SPC-4 §5.13.3) ----

TEST(PersistentReserveReserve6, RegistrationsMakeReserve6AndRelease6Conflict) {
    Pr h;
    const Bytes reserve6{0x16, 0, 0, 0, 0, 0}, release6{0x17, 0, 0, 0, 0, 0};
    h.enroll(1, kKey1);
    expect_conflict(h.run(reserve6, {}, 1));
    expect_conflict(h.run(reserve6, {}, 3));
    expect_conflict(h.run(release6, {}, 1));
    expect_good(h.out(1, kRegister, kKey1, 0));
    expect_good(h.run(reserve6, {}, 3));
    expect_good(h.run(release6, {}, 3));
}

TEST(PersistentReserveReserve6, RegistrationsMakeReserve10AndRelease10ConflictToo) {
    Pr h;
    const Bytes reserve10{0x56, 0, 0, 0, 0, 0, 0, 0, 0, 0}, release10{0x57, 0, 0, 0, 0, 0, 0, 0, 0, 0};
    h.enroll(1, kKey1);
    expect_conflict(h.run(reserve10, {}, 1));
    expect_conflict(h.run(reserve10, {}, 3));
    expect_conflict(h.run(release10, {}, 1));
    expect_good(h.out(1, kRegister, kKey1, 0));
    expect_good(h.run(reserve10, {}, 3));
    expect_conflict(h.out(1, kRegisterAndIgnore, 0, kKey1));  // the RESERVE(10) holder's gate
    expect_good(h.run(release10, {}, 3));
}

TEST(PersistentReserveReserve6, Reserve6ConflictsWithPersistentReserveOut) {
    Pr h;
    const Bytes reserve6{0x16, 0, 0, 0, 0, 0};
    expect_good(h.run(reserve6, {}, 1));
    expect_conflict(h.out(2, kRegisterAndIgnore, 0, kKey2));  // another nexus: the RESERVE(6) gate
    h.enroll(1, kKey1);                                       // the holder may register ...
    expect_conflict(h.out(1, kReserve, kKey1, 0, kWe));       // ... but not reserve persistently
    expect_good(h.run(prin(0, 64), {}, 2));                   // PR IN passes RESERVE(6) (SPC-2 §5.5.1)
}

// ---- CLEAR and PREEMPT (SPC-4 §5.13.11.4, §5.13.11.5) ----

TEST(PersistentReserveClear, RemovesEverythingAndTellsTheOtherRegistrants) {
    Pr h;
    h.enroll(1, kKey1);
    h.enroll(2, kKey2);
    expect_good(h.out(1, kReserve, kKey1, 0, kEa));
    expect_conflict(h.out(3, kClear, 0));
    expect_conflict(h.out(2, kClear, kKey1));
    const std::uint32_t before = h.generation();
    expect_good(h.out(2, kClear, kKey2));
    expect_ua(h, 1, 0x2a, 0x03);  // RESERVATIONS PREEMPTED
    expect_no_ua(h, 2);
    expect_no_ua(h, 3);
    EXPECT_EQ(h.in(1), (Bytes{0, 0, 0, 3, 0, 0, 0, 0}));
    EXPECT_TRUE(h.keys().empty());
    EXPECT_EQ(h.generation(), before + 1);
    expect_good(h.run(read10(0, 1), {}, 3));
}

TEST(PersistentReservePreempt, TakesTheReservationAndRemovesTheHolder) {
    Pr h;
    h.reserved_by_first(kEa);
    h.enroll(3, kKey3);
    const std::uint32_t before = h.generation();
    expect_good(h.out(2, kPreempt, kKey2, kKey1, kWe));
    expect_ua(h, 1, 0x2a, 0x05);  // REGISTRATIONS PREEMPTED
    expect_ua(h, 3, 0x2a, 0x04);  // the type changed: RESERVATIONS RELEASED
    expect_no_ua(h, 2);
    EXPECT_EQ(h.keys(), (std::vector<std::uint64_t>{kKey2, kKey3}));
    EXPECT_EQ(h.generation(), before + 1);
    const Bytes r = h.in(1);
    EXPECT_EQ(get64(r, 8), kKey2);
    EXPECT_EQ(r[21], kWe);
    expect_conflict(h.run(write10(0, 1), pattern(512, 1), 1));  // no longer registered nor holder
    expect_good(h.run(write10(0, 1), pattern(512, 1), 2));
}

TEST(PersistentReservePreempt, WithoutReservationRemovesTheNamedRegistrations) {
    // libiscsi's ProutPreempt.RemoveRegistration.
    Pr h;
    h.enroll(1, kKey1);
    h.enroll(2, kKey2);
    const std::uint32_t before = h.generation();
    expect_good(h.out(2, kPreempt, kKey2, kKey1, kEa));
    EXPECT_EQ(h.keys(), (std::vector<std::uint64_t>{kKey2}));
    EXPECT_EQ(h.generation(), before + 1);
    EXPECT_EQ(h.in(1).size(), 8u);  // and no reservation was created
    expect_ua(h, 1, 0x2a, 0x05);
    expect_conflict(h.out(2, kPreempt, kKey2, kKey3, kEa));  // nobody holds that key
    const Command zero = h.out(2, kPreempt, kKey2, 0, kEa);
    expect_sense(zero, SenseKey::illegal_request, 0x26, 0x00);
    EXPECT_FALSE(zero.sense.field_in_cdb);
    EXPECT_EQ(h.generation(), before + 1);
}

TEST(PersistentReservePreempt, AllRegistrantsWithKeyZeroLeavesOnlyThePreempter) {
    Pr h;
    h.reserved_by_first(kEaAr);
    h.enroll(3, kKey3);
    expect_good(h.out(2, kPreempt, kKey2, 0, kEa));
    expect_ua(h, 1, 0x2a, 0x05);
    expect_ua(h, 3, 0x2a, 0x05);
    EXPECT_EQ(h.keys(), (std::vector<std::uint64_t>{kKey2}));
    const Bytes r = h.in(1, 2);
    EXPECT_EQ(get64(r, 8), kKey2);
    EXPECT_EQ(r[21], kEa);
}

// ---- PREEMPT AND ABORT (SPC-4 §5.13.11.4.5) ----

// A transport's task aborter that records what it was asked and answers when told to.
struct RecordingAborter {
    int calls = 0;
    std::vector<std::uint64_t> nexuses;
    const Command* except = nullptr;
    std::function<void()> done;
    bool answer_at_once = true;

    void install(LogicalUnit& lu) {
        lu.set_task_aborter(
            [this](const LogicalUnit&, const std::vector<std::uint64_t>& n, const Command* e, std::function<void()> d) {
                ++calls;
                nexuses = n;
                except = e;
                done = std::move(d);
                if (answer_at_once) done();
            });
    }
};

TEST(PersistentReservePreemptAndAbort, PreemptsAsPreemptAndAbortsTheTasksOfThePreemptedNexuses) {
    Pr h;
    RecordingAborter aborter;
    aborter.install(*h.lu);
    h.reserved_by_first(kEa);
    h.enroll(3, kKey3);
    const std::uint32_t before = h.generation();
    expect_good(h.out(2, kPreemptAndAbort, kKey2, kKey1, kWe));
    EXPECT_EQ(aborter.calls, 1);
    EXPECT_EQ(aborter.nexuses, (std::vector<std::uint64_t>{1}));
    EXPECT_NE(aborter.except, nullptr);  // the PERSISTENT RESERVE OUT itself is spared
    expect_ua(h, 1, 0x2a, 0x05);         // REGISTRATIONS PREEMPTED
    expect_ua(h, 3, 0x2a, 0x04);         // the type changed: RESERVATIONS RELEASED
    EXPECT_EQ(h.keys(), (std::vector<std::uint64_t>{kKey2, kKey3}));
    EXPECT_EQ(h.generation(), before + 1);
    const Bytes r = h.in(1);
    EXPECT_EQ(get64(r, 8), kKey2);
    EXPECT_EQ(r[21], kWe);
}

TEST(PersistentReservePreemptAndAbort, CompletesOnlyAfterTheTransportAbortedTheTasks) {
    Pr h;
    RecordingAborter aborter;
    aborter.answer_at_once = false;
    aborter.install(*h.lu);
    h.reserved_by_first(kWe);
    Command c;
    const Bytes cdb = prout(kPreemptAndAbort, kEa);
    std::copy(cdb.begin(), cdb.end(), c.cdb.begin());
    c.nexus = 2;
    for (auto b : parameters(kKey2, kKey1)) c.buffer.push_back(std::byte{b});
    c.expected_transfer_length = 24;
    int calls = 0;
    h.lu->execute(c, h.io, [&] { ++calls; });
    EXPECT_EQ(calls, 0);
    ASSERT_EQ(aborter.calls, 1);
    EXPECT_EQ(aborter.except, &c);
    EXPECT_EQ(aborter.nexuses, (std::vector<std::uint64_t>{1}));
    // The state changed already: the preempted nexus's new commands meet the new reservation.
    expect_conflict(h.run(read10(0, 1), {}, 3));
    aborter.done();
    EXPECT_EQ(calls, 1);
    expect_good(c);
}

TEST(PersistentReservePreemptAndAbort, WithoutReservationAbortsTheTasksOfTheRemovedRegistrations) {
    Pr h;
    RecordingAborter aborter;
    aborter.install(*h.lu);
    h.clear_power_on(4);
    h.enroll(1, kKey1);
    h.enroll(2, kKey2);
    h.enroll(4, kKey1);
    expect_good(h.out(2, kPreemptAndAbort, kKey2, kKey1, kEa));
    EXPECT_EQ(aborter.nexuses, (std::vector<std::uint64_t>{1, 4}));
    EXPECT_EQ(h.keys(), (std::vector<std::uint64_t>{kKey2}));
    EXPECT_EQ(h.in(1).size(), 8u);  // no reservation was created
}

TEST(PersistentReservePreemptAndAbort, TheHolderPreemptingItselfAbortsItsOwnOtherTasks) {
    Pr h;
    RecordingAborter aborter;
    aborter.install(*h.lu);
    h.reserved_by_first(kWe);
    expect_good(h.out(1, kPreemptAndAbort, kKey1, kKey1, kEa));  // changes the type, keeps its key
    EXPECT_EQ(aborter.nexuses, (std::vector<std::uint64_t>{1}));
    EXPECT_EQ(h.keys(), (std::vector<std::uint64_t>{kKey1, kKey2}));
    EXPECT_EQ(h.in(1)[21], kEa);
}

TEST(PersistentReservePreemptAndAbort, AFailedRequestAbortsNothing) {
    Pr h;
    RecordingAborter aborter;
    aborter.install(*h.lu);
    h.reserved_by_first(kWe);
    expect_conflict(h.out(2, kPreemptAndAbort, kKey3, kKey1, kWe));            // not the sender's key
    expect_conflict(h.out(2, kPreemptAndAbort, kKey2, kKey3, kWe));            // nobody holds that key
    expect_invalid_cdb_field(h.out(2, kPreemptAndAbort, kKey2, kKey1, 2), 2);  // no type 2
    EXPECT_EQ(aborter.calls, 0);
    EXPECT_EQ(h.keys(), (std::vector<std::uint64_t>{kKey1, kKey2}));
}

TEST(PersistentReservePreemptAndAbort, WithoutATransportHookPreemptsAndCompletes) {
    Pr h;
    h.reserved_by_first(kEa);
    expect_good(h.out(2, kPreemptAndAbort, kKey2, kKey1, kEa));
    EXPECT_EQ(h.keys(), (std::vector<std::uint64_t>{kKey2}));
}

// ---- SPEC_I_PT and ALL_TG_PT (SPC-4 §6.16.3, §7.6.4.6) ----

// An iSCSI TransportID (SPC-4 §7.6.4.6): FORMAT CODE 01b with an ISID, 00b without.
Bytes transport_id(const std::string& name, std::optional<std::uint64_t> isid = std::nullopt) {
    std::string text = name;
    if (isid) {
        char buf[32];
        std::snprintf(buf, sizeof buf, ",i,0x%012llx", static_cast<unsigned long long>(*isid));
        text += buf;
    }
    const std::size_t length = (text.size() + 1 + 3) / 4 * 4;
    Bytes id(4 + length, 0);
    id[0] = std::uint8_t((isid ? 0x40 : 0x00) | 0x05);
    id[2] = std::uint8_t(length >> 8);
    id[3] = std::uint8_t(length);
    std::copy(text.begin(), text.end(), id.begin() + 4);
    return id;
}

// A REGISTER parameter list with SPEC_I_PT and these TransportIDs.
Bytes specified(std::uint64_t sa_key, std::initializer_list<Bytes> ids, std::uint8_t byte20 = 0x08) {
    Bytes p = parameters(0, sa_key, byte20);
    std::size_t total = 0;
    for (const Bytes& id : ids) total += id.size();
    p.resize(28, 0);
    p[24] = std::uint8_t(total >> 24);
    p[25] = std::uint8_t(total >> 16);
    p[26] = std::uint8_t(total >> 8);
    p[27] = std::uint8_t(total);
    for (const Bytes& id : ids) p.insert(p.end(), id.begin(), id.end());
    return p;
}

Command register_specified(Pr& h, std::uint64_t nexus, const Bytes& own, const Bytes& list) {
    return h.run(prout(kRegister, 0, std::uint32_t(list.size())), list, nexus, own);
}

const std::string kHostA = "iqn.2026-01.org.example:a", kHostB = "iqn.2026-01.org.example:b";

TEST(PersistentReserveSpecIPt, RegistersTheSenderAndEveryNamedPortInOneGeneration) {
    Pr h;
    const Bytes own = transport_id(kHostA, 1), b1 = transport_id(kHostB, 1), b2 = transport_id(kHostB, 2);
    expect_good(register_specified(h, 1, own, specified(kKey1, {b1, b2})));
    EXPECT_EQ(h.keys(), (std::vector<std::uint64_t>{kKey1, kKey1, kKey1}));
    EXPECT_EQ(h.generation(), 1u);
    // READ FULL STATUS names each port by the TransportID it was given.
    const Bytes d = h.in(3);
    ASSERT_EQ(d.size(), 8 + 3 * 24 + own.size() + b1.size() + b2.size());
    const std::size_t second = 8 + 24 + own.size();
    EXPECT_EQ((Bytes{d.begin() + long(second) + 24, d.begin() + long(second + 24 + b1.size())}), b1);
}

TEST(PersistentReserveSpecIPt, ARegistrationWaitsForItsPortAndIsItsNexussWhenItComes) {
    Pr h;
    const Bytes a = transport_id(kHostA, 1), b = transport_id(kHostB, 7);
    expect_good(register_specified(h, 1, a, specified(kKey1, {b})));
    // Nexus 4 is that port, arriving later: registered with kKey1 from its first command.
    expect_sense(h.run({0x00, 0, 0, 0, 0, 0}, {}, 4, b), SenseKey::unit_attention, 0x29, 0x00);
    expect_good(h.run(prout(kReserve, kWe), parameters(kKey1, 0), 4, b));
    EXPECT_EQ(get64(h.in(1), 8), kKey1);
    // Another port of that initiator (another ISID) is not registered.
    const Bytes b8 = transport_id(kHostB, 8);
    expect_sense(h.run({0x00, 0, 0, 0, 0, 0}, {}, 5, b8), SenseKey::unit_attention, 0x29, 0x00);
    expect_conflict(h.run(prout(kRelease, kWe), parameters(kKey1, 0), 5, b8));
    expect_conflict(h.run(write10(0, 1), pattern(512, 1), 5, b8));
}

TEST(PersistentReserveSpecIPt, FormatZeroNamesAnyPortOfTheInitiatorAndBindsTheFirst) {
    Pr h;
    const Bytes a = transport_id(kHostA, 1), b = transport_id(kHostB);
    expect_good(register_specified(h, 1, a, specified(kKey2, {b})));
    const Bytes b9 = transport_id("IQN.2026-01.ORG.EXAMPLE:B", 9);  // iSCSI names are case-folded
    h.run({0x00, 0, 0, 0, 0, 0}, {}, 6, b9);
    expect_good(h.run(prout(kRegister), parameters(kKey2, kKey3), 6, b9));  // holds kKey2, changes it
    EXPECT_EQ(h.keys(), (std::vector<std::uint64_t>{kKey2, kKey3}));
}

TEST(PersistentReserveSpecIPt, APortAlreadyAtTheLuIsRegisteredAtOnce) {
    Pr h;
    const Bytes a = transport_id(kHostA, 1), b = transport_id(kHostB, 3);
    h.run({0x00, 0, 0, 0, 0, 0}, {}, 7, b);  // nexus 7 (that port) has been here
    expect_good(register_specified(h, 1, a, specified(kKey1, {b})));
    expect_good(h.run(prout(kReserve, kEa), parameters(kKey1, 0), 7, b));
}

TEST(PersistentReserveSpecIPt, TheSendersOwnPortAndRepeatsAreRegisteredOnce) {
    Pr h;
    const Bytes a = transport_id(kHostA, 1), b = transport_id(kHostB, 1);
    expect_good(register_specified(h, 1, a, specified(kKey1, {a, b, b})));
    EXPECT_EQ(h.keys().size(), 2u);
}

TEST(PersistentReserveSpecIPt, RefusalsRegisterNothing) {
    Pr h;
    const Bytes a = transport_id(kHostA, 1), b = transport_id(kHostB, 1);
    // Only REGISTER takes SPEC_I_PT.
    const Bytes list = specified(kKey1, {b});
    expect_invalid_parameter_list_field(h.run(prout(kRegisterAndIgnore, 0, std::uint32_t(list.size())), list, 1, a),
                                        20);
    // The list's length must be the parameter list's, less 28.
    Bytes short_list = list;
    short_list[27] -= 4;
    expect_sense(register_specified(h, 1, a, short_list), SenseKey::illegal_request, 0x1a, 0x00);
    expect_sense(h.run(prout(kRegister, 0, 24), parameters(0, kKey1, 0x08), 1, a), SenseKey::illegal_request, 0x1a,
                 0x00);
    // Not iSCSI (PROTOCOL IDENTIFIER 0h, Fibre Channel).
    Bytes fc = b;
    fc[0] = 0x40;
    const Command c = register_specified(h, 1, a, specified(kKey1, {fc}));
    expect_invalid_parameter_list_field(c, 28);
    EXPECT_EQ(c.sense.bit_pointer, std::optional<std::uint8_t>(3));
    // ADDITIONAL LENGTH not a multiple of four, or past the end.
    Bytes odd = b;
    odd[3] += 1;
    expect_sense(register_specified(h, 1, a, specified(kKey1, {odd})), SenseKey::illegal_request, 0x26, 0x00);
    // 01b without ",i,0x<ISID>".
    Bytes no_isid = transport_id(kHostB);
    no_isid[0] = 0x45;
    expect_invalid_parameter_list_field(register_specified(h, 1, a, specified(kKey1, {no_isid})), 32);
    EXPECT_TRUE(h.keys().empty());
    // A port registered already fails the whole request.
    h.enroll(2, kKey2);
    expect_good(register_specified(h, 3, transport_id(kHostB, 5), specified(kKey3, {})));
    const Command again =
        register_specified(h, 1, a, specified(kKey1, {transport_id(kHostA, 2), transport_id(kHostB, 5)}));
    expect_sense(again, SenseKey::illegal_request, 0x26, 0x00);
    EXPECT_EQ(h.keys(), (std::vector<std::uint64_t>{kKey2, kKey3}));
    // A registered sender may not use SPEC_I_PT.
    const Bytes from_registered = [&] {
        Bytes l = specified(kKey1, {transport_id(kHostA, 4)});
        put64(l, 0, kKey2);
        return l;
    }();
    expect_invalid_parameter_list_field(register_specified(h, 2, {}, from_registered), 20);
    EXPECT_EQ(h.keys(), (std::vector<std::uint64_t>{kKey2, kKey3}));
}

TEST(PersistentReserveAllTgPt, IsAcceptedAndReportedByReadFullStatus) {
    Pr h;
    expect_good(h.run(prout(kRegisterAndIgnore), parameters(0, kKey1, 0x04), 1));
    expect_good(h.run(prout(kRegister), parameters(0, kKey2), 2));
    const Bytes d = h.in(3);
    ASSERT_EQ(d.size(), 8u + 24 + 24);
    EXPECT_EQ(d[8 + 12], 0x02);       // ALL_TG_PT
    EXPECT_EQ(d[8 + 24 + 12], 0x00);  // the other was made for this target port only
}

// ---- REGISTER AND MOVE (SPC-4 §5.13.8, §6.16.4) ----

// Its parameter list: the keys, UNREG/APTPL, RELATIVE TARGET PORT IDENTIFIER and one TransportID.
Bytes move_to(std::uint64_t key, std::uint64_t sa_key, const Bytes& id, std::uint8_t byte17 = 0,
              std::uint16_t port = 1) {
    Bytes p(24, 0);
    put64(p, 0, key);
    put64(p, 8, sa_key);
    p[17] = byte17;
    p[18] = std::uint8_t(port >> 8);
    p[19] = std::uint8_t(port);
    p[23] = std::uint8_t(id.size());
    p.insert(p.end(), id.begin(), id.end());
    return p;
}

Command move(Pr& h, std::uint64_t nexus, const Bytes& own, const Bytes& list, std::uint8_t scope_type = 0) {
    return h.run(prout(kRegisterAndMove, scope_type, std::uint32_t(list.size())), list, nexus, own);
}

TEST(PersistentReserveRegisterAndMove, MovesTheReservationToAPortThatHasNotComeYetAndRegistersIt) {
    Pr h;
    const Bytes a = transport_id(kHostA, 1), b = transport_id(kHostB, 1);
    expect_good(h.run(prout(kRegisterAndIgnore), parameters(0, kKey1), 1, a));
    expect_good(h.run(prout(kReserve, kEa), parameters(kKey1, 0), 1, a));
    const std::uint32_t before = h.generation();
    expect_good(move(h, 1, a, move_to(kKey1, kKey2, b), kWe));  // the CDB's TYPE is ignored
    EXPECT_EQ(h.generation(), before + 1);
    EXPECT_EQ(h.keys(), (std::vector<std::uint64_t>{kKey1, kKey2}));
    const Bytes r = h.in(1);
    EXPECT_EQ(get64(r, 8), kKey2);
    EXPECT_EQ(r[21], kEa);
    expect_conflict(h.run(read10(0, 1), {}, 1, a));  // registered, no longer the holder
    // The port comes: its nexus holds the reservation.
    h.run({0x00, 0, 0, 0, 0, 0}, {}, 4, b);
    expect_good(h.run(read10(0, 1), {}, 4, b));
    expect_good(h.run(prout(kRelease, kEa), parameters(kKey2, 0), 4, b));
    EXPECT_EQ(h.in(1).size(), 8u);
}

TEST(PersistentReserveRegisterAndMove, ToARegisteredNexusKeepsItsKeyAndUnregDropsTheSender) {
    Pr h;
    const Bytes a = transport_id(kHostA, 1), b = transport_id(kHostB, 1);
    expect_good(h.run(prout(kRegisterAndIgnore), parameters(0, kKey1), 1, a));
    expect_good(h.run(prout(kRegisterAndIgnore), parameters(0, kKey2), 2, b));
    expect_good(h.run(prout(kReserve, kWeRo), parameters(kKey1, 0), 1, a));
    expect_good(move(h, 1, a, move_to(kKey1, kKey3, b, 0x02)));  // UNREG
    EXPECT_EQ(h.keys(), (std::vector<std::uint64_t>{kKey2}));
    const Bytes r = h.in(1);
    EXPECT_EQ(get64(r, 8), kKey2);
    EXPECT_EQ(r[21], kWeRo);
    expect_good(h.run(write10(0, 1), pattern(512, 1), 2, b));
    expect_conflict(h.run(write10(0, 1), pattern(512, 1), 1, a));
}

TEST(PersistentReserveRegisterAndMove, OnlyTheHolderOfAReservationNotForAllRegistrantsMovesIt) {
    Pr h;
    const Bytes a = transport_id(kHostA, 1), b = transport_id(kHostB, 1), c = transport_id(kHostB, 2);
    expect_conflict(move(h, 1, a, move_to(0, kKey2, c)));  // unregistered
    expect_good(h.run(prout(kRegisterAndIgnore), parameters(0, kKey1), 1, a));
    expect_good(h.run(prout(kRegisterAndIgnore), parameters(0, kKey2), 2, b));
    expect_conflict(move(h, 1, a, move_to(kKey1, kKey2, c)));  // no reservation
    expect_good(h.run(prout(kReserve, kWe), parameters(kKey1, 0), 1, a));
    expect_conflict(move(h, 1, a, move_to(kKey2, kKey2, c)));  // not its key
    expect_conflict(move(h, 2, b, move_to(kKey2, kKey2, c)));  // not the holder
    expect_good(h.run(prout(kRelease, kWe), parameters(kKey1, 0), 1, a));
    expect_good(h.run(prout(kReserve, kEaAr), parameters(kKey1, 0), 1, a));
    expect_conflict(move(h, 1, a, move_to(kKey1, kKey2, c)));  // all registrants
    EXPECT_EQ(h.keys(), (std::vector<std::uint64_t>{kKey1, kKey2}));
}

TEST(PersistentReserveRegisterAndMove, RefusesWhatNamesNoOtherPortOfThisTargetPort) {
    Pr h;
    const Bytes a = transport_id(kHostA, 1), c = transport_id(kHostB, 2);
    expect_good(h.run(prout(kRegisterAndIgnore), parameters(0, kKey1), 1, a));
    expect_good(h.run(prout(kReserve, kWe), parameters(kKey1, 0), 1, a));
    expect_invalid_parameter_list_field(move(h, 1, a, move_to(kKey1, 0, c)), 8);  // no key
    const Command aptpl = move(h, 1, a, move_to(kKey1, kKey2, c, 0x01));
    expect_invalid_parameter_list_field(aptpl, 17);
    EXPECT_EQ(aptpl.sense.bit_pointer, std::optional<std::uint8_t>(0));
    expect_invalid_parameter_list_field(move(h, 1, a, move_to(kKey1, kKey2, c, 0, 2)), 18);  // no such port
    expect_invalid_parameter_list_field(move(h, 1, a, move_to(kKey1, kKey2, a)), 24);        // its own
    const Command device = move(h, 1, a, move_to(kKey1, kKey2, transport_id(kHostB)));
    expect_invalid_parameter_list_field(device, 24);  // 00b names no one port
    EXPECT_EQ(device.sense.bit_pointer, std::optional<std::uint8_t>(7));
    Bytes fc = c;
    fc[0] = 0x40;
    expect_invalid_parameter_list_field(move(h, 1, a, move_to(kKey1, kKey2, fc)), 24);
    Bytes wrong_length = move_to(kKey1, kKey2, c);
    wrong_length[23] += 4;
    expect_sense(move(h, 1, a, wrong_length), SenseKey::illegal_request, 0x1a, 0x00);
    EXPECT_EQ(h.keys(), (std::vector<std::uint64_t>{kKey1}));
    EXPECT_EQ(get64(h.in(1), 8), kKey1);
}

// ---- what is not supported yet answers so ----

TEST(PersistentReserveOut, UnsupportedOptionsAndServiceActionsAreRefused) {
    Pr h;
    const auto with = [&](std::uint8_t action, std::uint8_t byte20) {
        return h.run(prout(action, kWe), parameters(0, kKey1, byte20), 1);
    };
    for (const std::uint8_t bit : {3, 0}) {  // SPEC_I_PT (REGISTER only), APTPL
        const Command c = with(kRegisterAndIgnore, std::uint8_t(1u << bit));
        expect_sense(c, SenseKey::illegal_request, 0x26, 0x00);
        ASSERT_TRUE(c.sense.field_pointer && c.sense.bit_pointer);
        EXPECT_EQ(*c.sense.field_pointer, 20);
        EXPECT_EQ(*c.sense.bit_pointer, bit);
    }
    EXPECT_TRUE(h.keys().empty());
    for (std::uint8_t sa = 8; sa < 0x20; ++sa) expect_invalid_cdb_field(h.run(prout(sa), parameters(0, 0), 1), 1);
    expect_sense(h.run(prout(kRegisterAndIgnore, 0, 20), Bytes(20, 0), 1), SenseKey::illegal_request, 0x1a, 0x00);
    expect_sense(h.run(prout(kRegisterAndIgnore, 0, 32), Bytes(32, 0), 1), SenseKey::illegal_request, 0x1a, 0x00);
}

// ---- PERSISTENT RESERVE IN (SPC-4 §6.15) ----

TEST(PersistentReserveIn, ReportCapabilitiesTellsWhatIsImplemented) {
    Pr h;
    // CRH, SIP_C, ATP_C; TMV, ALLOW COMMANDS 011b; all six types; PTPL_C 0.
    EXPECT_EQ(h.in(2), (Bytes{0, 8, 0x1c, 0xb0, 0xea, 0x01, 0, 0}));
}

TEST(PersistentReserveIn, AllocationLengthTruncatesButLengthsStayWhole) {
    Pr h;
    h.enroll(1, kKey1);
    h.enroll(2, kKey2);
    EXPECT_EQ(h.in(0, 3, 8), (Bytes{0, 0, 0, 2, 0, 0, 0, 16}));
    EXPECT_EQ(h.in(0, 3, 12).size(), 12u);
    EXPECT_EQ(h.in(2, 3, 4), (Bytes{0, 8, 0x1c, 0xb0}));
    expect_good(h.out(1, kReserve, kKey1, 0, kWe));
    EXPECT_EQ(h.in(1, 3, 8), (Bytes{0, 0, 0, 2, 0, 0, 0, 16}));
}

TEST(PersistentReserveIn, ReadFullStatusDescribesEachRegistration) {
    Pr h;
    const Bytes id1{0x45, 0, 0, 8, 'i', 'q', 'n', '.', 'a', 0, 0, 0};
    expect_good(h.run(prout(kRegisterAndIgnore), parameters(0, kKey1), 1, id1));
    expect_good(h.run(prout(kRegisterAndIgnore), parameters(0, kKey2), 2));  // no TransportID given
    expect_good(h.out(1, kReserve, kKey1, 0, kEaRo));
    const Bytes d = h.in(3);
    ASSERT_EQ(d.size(), 8u + 24 + 12 + 24);
    EXPECT_EQ(get32(d, 0), 2u);
    EXPECT_EQ(get32(d, 4), 24u + 12 + 24);
    Bytes first(24, 0);
    put64(first, 0, kKey1);
    first[12] = 0x01;   // R_HOLDER
    first[13] = kEaRo;  // SCOPE, TYPE
    first[19] = 1;      // RELATIVE TARGET PORT IDENTIFIER
    first[23] = 12;     // ADDITIONAL DESCRIPTOR LENGTH
    first.insert(first.end(), id1.begin(), id1.end());
    EXPECT_EQ((Bytes{d.begin() + 8, d.begin() + 8 + 36}), first);
    Bytes second(24, 0);
    put64(second, 0, kKey2);
    second[19] = 1;
    EXPECT_EQ((Bytes{d.begin() + 44, d.end()}), second);
}

TEST(PersistentReserveIn, UnknownServiceActionIsInvalidFieldAtByteOne) {
    Harness h;
    for (std::uint8_t sa = 4; sa < 0x20; ++sa) expect_invalid_cdb_field(h.run(prin(sa, 8)), 1);
}

}  // namespace
}  // namespace iscsikit::scsi::test
