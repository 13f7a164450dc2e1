// iscsikit discover HOST[:PORT] | iscsi://HOST[:PORT]: SendTargets=All over a discovery session.
#include <iostream>

#include <fmt/format.h>

#include "common.hpp"

namespace iscsikit::cli {

namespace {

struct DiscoverArgs {
    std::string where;
};

Result<Url> discovery_url(const std::string& where) {
    if (is_iscsi_url(where)) {
        auto url = initiator::parse_url(where);
        // A discovery session names no target (RFC 7143 §4.3); a URL that does was meant for
        // another subcommand, and quietly dropping its target or LUN would hide that.
        if (url && (!url->target.empty() || url->lun))
            return initiator::fail(ErrorKind::invalid_argument,
                                   fmt::format("'{}' names a target: discover takes a portal, iscsi://HOST[:PORT] or "
                                               "HOST[:PORT] (ls lists a target's LUNs)",
                                               where));
        return url;
    }
    auto portal = initiator::parse_portal(where);
    if (!portal) return tl::unexpected(portal.error());
    Url url;
    url.portal = *portal;
    return url;
}

void print(const std::vector<initiator::DiscoveredTarget>& targets, bool json) {
    if (json) {
        auto list = Json::array();
        for (const auto& t : targets) list.push_back({{"name", t.name}, {"portals", t.addresses}});
        print_json({{"targets", list}});
        return;
    }
    for (const auto& t : targets)
        for (const auto& address : t.addresses) std::cout << address << " " << t.name << "\n";
}

asio::awaitable<Result<void>> run(asio::any_io_executor executor, const CommonOptions& common,
                                  const DiscoverArgs& args) {
    auto url = discovery_url(args.where);
    if (!url) co_return tl::unexpected(url.error());
    auto opts = session_options(common);
    opts.extra_portals.clear();  // --portal is for normal sessions
    auto targets = co_await initiator::discover(executor, *url, opts);
    if (!targets) co_return tl::unexpected(targets.error());
    print(*targets, common.json);
    co_return Result<void>{};
}

}  // namespace

Subcommand add_discover(CLI::App& parent, CommonOptions& common) {
    auto args = std::make_shared<DiscoverArgs>();
    auto* sub = parent.add_subcommand("discover", "list the targets a portal offers (SendTargets=All)");
    sub->add_option("portal", args->where, "HOST[:PORT] or iscsi://HOST[:PORT]")->required();
    add_common_options(*sub, common, true);
    return {sub, [args, &common](asio::any_io_executor executor) { return run(std::move(executor), common, *args); }};
}

}  // namespace iscsikit::cli
