// iscsikit ls URL: every LUN REPORT LUNS lists, with its INQUIRY identity and capacity.
#include <algorithm>
#include <iostream>
#include <optional>

#include <fmt/format.h>

#include "common.hpp"
#include "initiator/format.hpp"

namespace iscsikit::cli {

namespace {

struct LsArgs {
    std::string url;
};

struct LunInfo {
    std::uint64_t lun = 0;
    scsi::parse::InquiryData inquiry;
    std::optional<scsi::parse::Capacity> capacity;  // absent for devices without READ CAPACITY
};

// A SCSI answer (not supported, not ready) means "no capacity"; a lost session is an error.
bool is_scsi_answer(const Error& e) { return e.kind == ErrorKind::scsi_error || e.kind == ErrorKind::no_such_lun; }

// Every LUN the target reports, or the one `only` names (an error when it reports no such LUN).
asio::awaitable<Result<std::vector<LunInfo>>> collect(Session& session, std::optional<std::uint64_t> only) {
    std::vector<std::uint64_t> luns;
    if (only) {
        auto present = co_await require_lun(session, *only);
        if (!present) co_return tl::unexpected(present.error());
        luns = {*only};
    } else {
        auto reported = co_await initiator::report_luns(session);
        if (!reported) co_return tl::unexpected(reported.error());
        luns = std::move(*reported);
        std::sort(luns.begin(), luns.end());
    }
    std::vector<LunInfo> infos;
    for (auto lun : luns) {
        LunInfo info;
        info.lun = lun;
        auto inquiry = co_await initiator::inquiry(session, lun);
        if (!inquiry) co_return tl::unexpected(inquiry.error());
        info.inquiry = *inquiry;
        auto capacity = co_await initiator::read_capacity(session, lun);
        if (capacity)
            info.capacity = *capacity;
        else if (!is_scsi_answer(capacity.error()))
            co_return tl::unexpected(capacity.error());
        infos.push_back(std::move(info));
    }
    co_return infos;
}

Json to_json(const LunInfo& info) {
    Json j = {
        {"lun", info.lun},
        {"type", scsi::parse::device_type_name(info.inquiry.device_type)},
        {"device_type", info.inquiry.device_type},
        {"vendor", info.inquiry.vendor},
        {"product", info.inquiry.product},
        {"revision", info.inquiry.revision},
        {"block_size", nullptr},
        {"blocks", nullptr},
        {"bytes", nullptr},
        {"thin", nullptr},
    };
    if (info.capacity) {
        j["block_size"] = info.capacity->block_size;
        j["blocks"] = info.capacity->blocks;
        j["bytes"] = info.capacity->bytes();
        j["thin"] = info.capacity->thin;
    }
    return j;
}

void print_table(const std::vector<LunInfo>& infos) {
    std::vector<std::vector<std::string>> rows{{"LUN", "TYPE", "VENDOR", "PRODUCT", "BLOCK", "BLOCKS", "SIZE"}};
    for (const auto& info : infos) {
        const auto& cap = info.capacity;
        rows.push_back({std::to_string(info.lun), scsi::parse::device_type_name(info.inquiry.device_type),
                        info.inquiry.vendor, info.inquiry.product, cap ? std::to_string(cap->block_size) : "-",
                        cap ? std::to_string(cap->blocks) : "-", cap ? initiator::format_size(cap->bytes()) : "-"});
    }
    std::vector<std::size_t> width(rows.front().size(), 0);
    for (const auto& row : rows)
        for (std::size_t c = 0; c < row.size(); ++c) width[c] = std::max(width[c], row[c].size());
    for (const auto& row : rows) {
        std::string line;
        for (std::size_t c = 0; c < row.size(); ++c) {
            const bool last = c + 1 == row.size();
            line += last ? row[c] : fmt::format("{:<{}}  ", row[c], width[c]);
        }
        std::cout << line << "\n";
    }
}

asio::awaitable<Result<void>> run(asio::any_io_executor executor, const CommonOptions& common, const LsArgs& args) {
    auto url = parse_target_url(args.url);
    if (!url) co_return tl::unexpected(url.error());
    std::function<asio::awaitable<Result<void>>(Session&)> list =
        [&](Session& session) -> asio::awaitable<Result<void>> {
        auto infos = co_await collect(session, url->lun);
        if (!infos) co_return tl::unexpected(infos.error());
        if (common.json) {
            auto luns = Json::array();
            for (const auto& info : *infos) luns.push_back(to_json(info));
            print_json({{"target", url->target}, {"portal", session.current_portal().to_string()}, {"luns", luns}});
        } else {
            print_table(*infos);
        }
        co_return Result<void>{};
    };
    auto done = co_await with_session(executor, *url, common, std::move(list));
    co_return done;
}

}  // namespace

Subcommand add_ls(CLI::App& parent, CommonOptions& common) {
    auto args = std::make_shared<LsArgs>();
    auto* sub = parent.add_subcommand("ls", "list the LUNs of a target (REPORT LUNS, INQUIRY, READ CAPACITY)");
    sub->add_option("url", args->url, "iscsi://HOST[:PORT]/TARGET-IQN[/LUN] (a LUN: list only that one)")->required();
    add_common_options(*sub, common, true);
    return {sub, [args, &common](asio::any_io_executor executor) { return run(std::move(executor), common, *args); }};
}

}  // namespace iscsikit::cli
