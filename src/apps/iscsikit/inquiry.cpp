// iscsikit inquiry URL and iscsikit readcap URL: what one LUN says about itself.
#include <iostream>
#include <optional>

#include <fmt/format.h>

#include "common.hpp"
#include "initiator/format.hpp"

namespace iscsikit::cli {

namespace {

struct LunArgs {
    std::string url;
};

// SPC-4 6.6.2 VERSION: the standard the device claims.
const char* version_name(std::uint8_t version) {
    switch (version) {
        case 0: return "no standard claimed";
        case 3: return "SPC";
        case 4: return "SPC-2";
        case 5: return "SPC-3";
        case 6: return "SPC-4";
        case 7: return "SPC-5";
        default: return "unknown";
    }
}

const char* yes_no(bool value) { return value ? "yes" : "no"; }

// A VPD page the device may not have: a SCSI answer (invalid field in CDB) means "absent".
template <class T, class Parse>
asio::awaitable<Result<std::optional<T>>> optional_vpd(Session& session, std::uint64_t lun, std::uint8_t page,
                                                       Parse parse) {
    auto data = co_await initiator::inquiry_vpd(session, lun, page);
    if (!data) {
        if (data.error().kind == ErrorKind::scsi_error) co_return std::optional<T>{};
        co_return tl::unexpected(data.error());
    }
    co_return parse(std::span<const std::uint8_t>(*data));
}

asio::awaitable<Result<void>> inquiry(Session& session, std::uint64_t lun, bool json) {
    auto standard = co_await initiator::inquiry(session, lun);
    if (!standard) co_return tl::unexpected(standard.error());
    // SPC-4 7.8.15 (80h) and 7.8.6 (83h).
    auto serial = co_await optional_vpd<std::string>(session, lun, 0x80, scsi::parse::unit_serial_number);
    if (!serial) co_return tl::unexpected(serial.error());
    auto ids = co_await optional_vpd<std::vector<std::string>>(session, lun, 0x83, scsi::parse::device_identifiers);
    if (!ids) co_return tl::unexpected(ids.error());
    const auto identifiers = ids->value_or(std::vector<std::string>{});
    const auto& d = *standard;
    const char* type = scsi::parse::device_type_name(d.device_type);
    if (json) {
        print_json({{"lun", lun},
                    {"type", type},
                    {"device_type", d.device_type},
                    {"vendor", d.vendor},
                    {"product", d.product},
                    {"revision", d.revision},
                    {"removable", d.removable},
                    {"version", d.version},
                    {"serial", *serial ? Json(**serial) : Json(nullptr)},
                    {"identifiers", identifiers}});
        co_return Result<void>{};
    }
    std::cout << fmt::format("lun         {}\n", lun) << fmt::format("type        {} ({:02x}h)\n", type, d.device_type)
              << fmt::format("vendor      {}\n", d.vendor) << fmt::format("product     {}\n", d.product)
              << fmt::format("revision    {}\n", d.revision) << fmt::format("removable   {}\n", yes_no(d.removable))
              << fmt::format("version     {} ({})\n", d.version, version_name(d.version))
              << fmt::format("serial      {}\n", serial->value_or("-"));
    for (const auto& id : identifiers) std::cout << fmt::format("identifier  {}\n", id);
    co_return Result<void>{};
}

asio::awaitable<Result<void>> readcap(Session& session, std::uint64_t lun, bool json) {
    auto cap = co_await initiator::read_capacity(session, lun);
    if (!cap) co_return tl::unexpected(cap.error());
    if (json) {
        print_json({{"lun", lun},
                    {"blocks", cap->blocks},
                    {"block_size", cap->block_size},
                    {"bytes", cap->bytes()},
                    {"thin", cap->thin},
                    {"lbprz", cap->lbprz},
                    {"lbppbe", cap->lbppbe}});
        co_return Result<void>{};
    }
    std::cout << fmt::format("lun         {}\n", lun) << fmt::format("blocks      {}\n", cap->blocks)
              << fmt::format("block size  {}\n", cap->block_size)
              << fmt::format("size        {} bytes ({})\n", cap->bytes(), initiator::format_size(cap->bytes()))
              << fmt::format("thin        {}\n", yes_no(cap->thin))
              << fmt::format("lbprz       {}\n", yes_no(cap->lbprz))
              << fmt::format("lbppbe      {} ({} logical block{} per physical block)\n", cap->lbppbe, 1u << cap->lbppbe,
                             cap->lbppbe ? "s" : "");
    co_return Result<void>{};
}

using LunBody = asio::awaitable<Result<void>> (*)(Session&, std::uint64_t, bool);

Subcommand add_lun_command(CLI::App& parent, CommonOptions& common, const char* name, const char* help, LunBody body) {
    auto args = std::make_shared<LunArgs>();
    auto* sub = parent.add_subcommand(name, help);
    sub->add_option("url", args->url, "iscsi://HOST[:PORT]/TARGET-IQN[/LUN] (LUN 0 when absent)")->required();
    add_common_options(*sub, common, true);
    return {sub, [args, &common, body](asio::any_io_executor executor) {
                return with_lun(std::move(executor), args->url, common,
                                [&common, body](Session& s, std::uint64_t lun) { return body(s, lun, common.json); });
            }};
}

}  // namespace

Subcommand add_inquiry(CLI::App& parent, CommonOptions& common) {
    return add_lun_command(parent, common, "inquiry",
                           "what a LUN says about itself: INQUIRY, unit serial number, device identifiers", inquiry);
}

Subcommand add_readcap(CLI::App& parent, CommonOptions& common) {
    return add_lun_command(parent, common, "readcap", "the capacity of a LUN (READ CAPACITY(16))", readcap);
}

}  // namespace iscsikit::cli
