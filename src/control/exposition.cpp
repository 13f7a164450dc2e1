#include "control/exposition.hpp"

#include <cmath>

#include <fmt/format.h>

namespace iscsikit::control {

std::string escape_label_value(std::string_view value) {
    std::string out;
    out.reserve(value.size());
    for (char c : value) {
        switch (c) {
            case '\\': out += "\\\\"; break;
            case '"': out += "\\\""; break;
            case '\n': out += "\\n"; break;
            default: out += c;
        }
    }
    return out;
}

std::string escape_help(std::string_view text) {
    std::string out;
    out.reserve(text.size());
    for (char c : text) {
        switch (c) {
            case '\\': out += "\\\\"; break;
            case '\n': out += "\\n"; break;
            default: out += c;
        }
    }
    return out;
}

std::string format_value(double value) {
    if (std::isnan(value)) return "NaN";
    if (std::isinf(value)) return value > 0 ? "+Inf" : "-Inf";
    return fmt::format("{}", value);
}

void Exposition::family(std::string_view name, std::string_view type, std::string_view help) {
    out_ += fmt::format("# HELP {} {}\n# TYPE {} {}\n", name, escape_help(help), name, type);
}

void Exposition::series(std::string_view name, std::string_view suffix, std::span<const Label> labels,
                        const Label* extra) {
    out_ += name;
    out_ += suffix;
    if (labels.empty() && !extra) {
        out_ += ' ';
        return;
    }
    out_ += '{';
    bool first = true;
    auto add = [&](const Label& label) {
        if (!first) out_ += ',';
        first = false;
        out_ += label.name;
        out_ += "=\"";
        out_ += escape_label_value(label.value);
        out_ += '"';
    };
    for (const auto& label : labels) add(label);
    if (extra) add(*extra);
    out_ += "} ";
}

void Exposition::sample(std::string_view name, std::span<const Label> labels, std::uint64_t value) {
    series(name, "", labels);
    out_ += fmt::format("{}\n", value);
}

void Exposition::sample(std::string_view name, std::span<const Label> labels, std::int64_t value) {
    series(name, "", labels);
    out_ += fmt::format("{}\n", value);
}

void Exposition::sample(std::string_view name, std::span<const Label> labels, double value) {
    series(name, "", labels);
    out_ += format_value(value);
    out_ += '\n';
}

void Exposition::histogram(std::string_view name, std::span<const Label> labels, std::span<const double> bounds,
                           std::span<const std::uint64_t> counts, double sum) {
    std::uint64_t cumulative = 0;
    for (std::size_t i = 0; i < counts.size(); ++i) {
        cumulative += counts[i];
        const std::string le = i < bounds.size() ? format_value(bounds[i]) : std::string("+Inf");
        const Label bucket{"le", le};
        series(name, "_bucket", labels, &bucket);
        out_ += fmt::format("{}\n", cumulative);
    }
    // A histogram with fewer counts than bounds + 1 still ends with +Inf (the format requires it).
    if (counts.size() <= bounds.size()) {
        const Label bucket{"le", "+Inf"};
        series(name, "_bucket", labels, &bucket);
        out_ += fmt::format("{}\n", cumulative);
    }
    series(name, "_sum", labels);
    out_ += format_value(sum);
    out_ += '\n';
    series(name, "_count", labels);
    out_ += fmt::format("{}\n", cumulative);
}

}  // namespace iscsikit::control
