// INQUIRY (SPC-4 §6.6): standard data and the vital product data pages a block device needs:
// supported pages, unit serial number, device identification (SPC-4 §7.8), third-party copy
// (copy_results.cpp), block limits, block device characteristics and logical block provisioning (SBC-3 §6.5).
#include <algorithm>
#include <string>
#include <vector>

#include "scsi/lu_state.hpp"

namespace iscsikit::scsi::detail {
namespace {

constexpr std::uint8_t kPeripheral = 0x00;  // qualifier 000b, direct access block device

void put_padded(std::vector<std::uint8_t>& out, std::size_t at, const std::string& text, std::size_t width) {
    // SPC-4 §4.3.1: ASCII fields are left aligned and padded with spaces.
    for (std::size_t i = 0; i < width; ++i) {
        const char ch = i < text.size() ? text[i] : ' ';
        out[at + i] = (ch >= 0x20 && ch <= 0x7e) ? static_cast<std::uint8_t>(ch) : ' ';
    }
}

std::uint64_t fnv1a(const std::string& text) {
    std::uint64_t h = 0xcbf29ce484222325ull;
    for (unsigned char ch : text) h = (h ^ ch) * 0x100000001b3ull;
    return h;
}

std::string hex(std::uint64_t v, int digits) {
    static constexpr char kDigits[] = "0123456789abcdef";
    std::string s(static_cast<std::size_t>(digits), '0');
    for (int i = digits - 1; i >= 0; --i, v >>= 4) s[static_cast<std::size_t>(i)] = kDigits[v & 0xf];
    return s;
}

// Configuration should set both; these fallbacks are stable for a given identity.
std::uint64_t naa_of(const LuIdentity& id) {
    if (id.naa != 0) return id.naa;
    // NAA 5 (IEEE Registered) shape with a zero OUI and a hash of what names the LU.
    return 0x5000000000000000ull | (fnv1a(id.vendor + id.product + id.serial) & 0x0000000fffffffffull);
}

std::string serial_of(const LuIdentity& id) { return id.serial.empty() ? hex(naa_of(id), 16) : id.serial; }

Flow standard(LuState& lu, Command& cmd, std::uint32_t allocation) {
    std::vector<std::uint8_t> d(96, 0);
    d[0] = kPeripheral;
    d[1] = lu.identity.removable ? 0x80 : 0x00;  // RMB
    d[2] = 0x06;                                 // VERSION: SPC-4
    d[3] = 0x02;                                 // RESPONSE DATA FORMAT 2
    d[4] = static_cast<std::uint8_t>(d.size() - 5);
    d[5] = 0x30;  // SPC-4 §6.6.2 TPGS 11b: implicit (management) and explicit (SET TARGET PORT GROUPS) ALUA
    d[7] = 0x02;  // CMDQUE
    put_padded(d, 8, lu.identity.vendor, 8);
    put_padded(d, 16, lu.identity.product, 16);
    put_padded(d, 32, lu.identity.revision, 4);
    // SPC-4 §6.6.2 version descriptors: SAM-5, iSCSI, SPC-4, SBC-3.
    store_be16(&d[58], 0x00a0);
    store_be16(&d[60], 0x0960);
    store_be16(&d[62], 0x0460);
    store_be16(&d[64], 0x04c0);
    return data_in(cmd, d.data(), d.size(), allocation);
}

std::vector<std::uint8_t> supported_pages(const LuState& lu) {
    std::vector<std::uint8_t> d{kPeripheral, 0x00, 0x00, 0x00, 0x00, 0x80, 0x83, 0x8f, 0xb0, 0xb1};
    if (lu.identity.thin) d.push_back(0xb2);
    d[3] = static_cast<std::uint8_t>(d.size() - 4);
    return d;
}

std::vector<std::uint8_t> unit_serial_number(const LuState& lu) {
    const std::string serial = serial_of(lu.identity);
    std::vector<std::uint8_t> d{kPeripheral, 0x80, 0x00,
                                static_cast<std::uint8_t>(std::min<std::size_t>(serial.size(), 251))};
    append(d, reinterpret_cast<const std::uint8_t*>(serial.data()), d[3]);
    return d;
}

void add_designator(std::vector<std::uint8_t>& d, std::uint8_t code_set, std::uint8_t association, std::uint8_t type,
                    const std::vector<std::uint8_t>& value) {
    // SPC-4 §7.8.6.1: target port and target device designators carry the protocol (iSCSI, 5h)
    // with PIV set; logical unit designators do not.
    const bool piv = association != 0;
    d.push_back(static_cast<std::uint8_t>((piv ? 0x50 : 0x00) | code_set));
    d.push_back(static_cast<std::uint8_t>((piv ? 0x80 : 0x00) | (association << 4) | type));
    d.push_back(0x00);
    d.push_back(static_cast<std::uint8_t>(value.size()));
    append(d, value.data(), value.size());
}

std::vector<std::uint8_t> scsi_name(const std::string& name) {
    // SPC-4 §7.8.6.11: UTF-8, null terminated, null padded to a multiple of four, at most 256.
    std::vector<std::uint8_t> v(name.begin(),
                                name.begin() + static_cast<std::ptrdiff_t>(std::min<std::size_t>(name.size(), 252)));
    v.resize((v.size() + 4) & ~std::size_t{3}, 0);
    return v;
}

std::vector<std::uint8_t> device_identification(const LuState& lu) {
    const LuIdentity& id = lu.identity;
    std::vector<std::uint8_t> d{kPeripheral, 0x83, 0x00, 0x00};

    std::vector<std::uint8_t> naa(8);
    store_be64(naa.data(), naa_of(id));
    add_designator(d, 0x1, 0, 0x3, naa);  // SPC-4 §7.8.6.6: NAA, binary, logical unit

    std::vector<std::uint8_t> t10(8, ' ');
    for (std::size_t i = 0; i < 8 && i < id.vendor.size(); ++i) t10[i] = static_cast<std::uint8_t>(id.vendor[i]);
    const std::string serial = serial_of(id);
    append(t10, reinterpret_cast<const std::uint8_t*>(serial.data()), std::min<std::size_t>(serial.size(), 200));
    add_designator(d, 0x2, 0, 0x1, t10);  // SPC-4 §7.8.6.4: T10 vendor ID, ASCII, logical unit

    std::vector<std::uint8_t> port(4, 0);
    store_be16(&port[2], id.relative_target_port);
    add_designator(d, 0x1, 1, 0x4, port);  // SPC-4 §7.8.6.7: relative target port
    store_be16(&port[2], id.target_port_group);
    add_designator(d, 0x1, 1, 0x5, port);  // SPC-4 §7.8.6.8: target port group
    if (!id.target_port_name.empty()) {
        add_designator(d, 0x3, 1, 0x8, scsi_name(id.target_port_name));  // SCSI name string, target port
        // iSCSI port names are "<target name>,t,0x<TPGT>": the part before ",t," names the device.
        const auto comma = id.target_port_name.find(",t,");
        if (comma != std::string::npos) add_designator(d, 0x3, 2, 0x8, scsi_name(id.target_port_name.substr(0, comma)));
    }
    store_be16(&d[2], static_cast<std::uint16_t>(d.size() - 4));
    return d;
}

std::vector<std::uint8_t> block_limits(const LuState& lu) {
    std::vector<std::uint8_t> d(64, 0);
    d[0] = kPeripheral;
    d[1] = 0xb0;
    store_be16(&d[2], 0x3c);
    // Byte 4 WSNZ 0: WRITE SAME with NUMBER OF LOGICAL BLOCKS 0 writes through the last block.
    d[5] = static_cast<std::uint8_t>(lu.max_compare_and_write_blocks());     // MAXIMUM COMPARE AND WRITE LENGTH
    store_be16(&d[6], static_cast<std::uint16_t>(1u << lu.lbppb_exponent));  // OPTIMAL TRANSFER LENGTH GRANULARITY
    store_be32(&d[8], kMaxTransferBytes / lu.block_size);                    // MAXIMUM TRANSFER LENGTH
    store_be32(&d[12], kOptimalTransferBytes / lu.block_size);               // OPTIMAL TRANSFER LENGTH
    if (lu.identity.thin) {
        // UNMAP limits; 0 on a fully provisioned LU, which has no UNMAP (LBPU 0).
        store_be32(&d[20], static_cast<std::uint32_t>(kMaxUnmapBytes / lu.block_size));  // MAXIMUM UNMAP LBA COUNT
        store_be32(&d[24], kMaxUnmapDescriptors);                               // MAXIMUM UNMAP BLOCK DESCRIPTOR COUNT
        store_be32(&d[28], std::max(kPhysicalBlockBytes / lu.block_size, 1u));  // OPTIMAL UNMAP GRANULARITY
        store_be32(&d[32], 0x80000000u);  // UGAVALID, UNMAP GRANULARITY ALIGNMENT 0
    }
    store_be64(&d[36], lu.max_write_same_blocks());  // MAXIMUM WRITE SAME LENGTH
    // SBC-4 §6.6.4 WRITE ATOMIC(16): any transfer is atomic, at any LBA, of any length (ATOMIC
    // ALIGNMENT and ATOMIC TRANSFER LENGTH GRANULARITY 0); no atomic boundaries (bytes 56-63 0).
    store_be32(&d[44], kMaxTransferBytes / lu.block_size);  // MAXIMUM ATOMIC TRANSFER LENGTH
    return d;
}

std::vector<std::uint8_t> block_device_characteristics(const LuState& lu) {
    std::vector<std::uint8_t> d(64, 0);
    d[0] = kPeripheral;
    d[1] = 0xb1;
    store_be16(&d[2], 0x3c);
    store_be16(&d[4], 0x0001);  // MEDIUM ROTATION RATE: non-rotating medium
    // SBC-4 §6.6.2 WABEREQ and WACEREQ 01b: after a sanitize block or cryptographic erase, which
    // only a thin LU offers, reads complete without error (the blocks are deallocated: zeros).
    if (lu.identity.thin) d[7] = 0x50;
    return d;
}

std::vector<std::uint8_t> logical_block_provisioning() {
    // SBC-3 §6.5.4, for a thin LU: no threshold; UNMAP (LBPU) and WRITE SAME(16/10) with UNMAP
    // (LBPWS, LBPWS10) deallocate; deallocated blocks read as zeros (LBPRZ); no anchored state
    // (ANC_SUP 0); PROVISIONING TYPE 010b, thin provisioned.
    return {kPeripheral, 0xb2, 0x00, 0x04, 0x00, 0xe4, 0x02, 0x00};
}

}  // namespace

bool designates_lu(const LuState& lu, std::span<const std::uint8_t> designation) {
    if (designation.size() < 4 || designation.size() < 4u + designation[3]) return false;
    const auto code_set = static_cast<std::uint8_t>(designation[0] & 0x0f);
    const auto association_and_type = static_cast<std::uint8_t>(designation[1] & 0x3f);
    const std::span<const std::uint8_t> designator = designation.subspan(4, designation[3]);
    // SPC-4 §7.8.6.1: ASSOCIATION 00b, the designator names the logical unit; PIV and PROTOCOL
    // IDENTIFIER do not take part (a logical unit designator has neither).
    if ((association_and_type & 0x30) != 0) return false;
    const std::vector<std::uint8_t> page = device_identification(lu);
    for (std::size_t at = 4; at + 4 <= page.size(); at += 4u + page[at + 3]) {
        const std::span<const std::uint8_t> ours(page.data() + at + 4, page[at + 3]);
        if ((page[at] & 0x0f) == code_set && (page[at + 1] & 0x3f) == association_and_type &&
            std::equal(ours.begin(), ours.end(), designator.begin(), designator.end()))
            return true;
    }
    return false;
}

Flow inquiry(LuState& lu, Command& cmd, IoEngine&) {
    const Cdb& c = cmd.cdb;
    const std::uint32_t allocation = load_be16(&c[3]);
    if (c[1] & 0x02) return fail(cmd, Sense::invalid_field_in_cdb(1, 1));  // CMDDT is obsolete
    const bool evpd = c[1] & 0x01;
    // SPC-4 §6.6.1: EVPD 0 with a nonzero PAGE CODE is an error.
    if (!evpd) return c[2] == 0 ? standard(lu, cmd, allocation) : fail(cmd, Sense::invalid_field_in_cdb(2));

    std::vector<std::uint8_t> page;
    switch (c[2]) {
        case 0x00: page = supported_pages(lu); break;
        case 0x80: page = unit_serial_number(lu); break;
        case 0x83: page = device_identification(lu); break;
        case 0x8f: page = third_party_copy_vpd(lu); break;
        case 0xb0: page = block_limits(lu); break;
        case 0xb1: page = block_device_characteristics(lu); break;
        case 0xb2:
            if (!lu.identity.thin) return fail(cmd, Sense::invalid_field_in_cdb(2));
            page = logical_block_provisioning();
            break;
        default: return fail(cmd, Sense::invalid_field_in_cdb(2));
    }
    return data_in(cmd, page.data(), page.size(), allocation);
}

}  // namespace iscsikit::scsi::detail
