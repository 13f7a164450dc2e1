// Reassembling one read command's Data-In PDUs into the caller's buffer (RFC 7143 §11.7): each
// PDU carries DataSN and a Buffer Offset; with DataPDUInOrder=Yes and DataSequenceInOrder=Yes
// (what we negotiate) they must come in order without gaps or overlap, and never past the end of
// the buffer. Violations are protocol errors: the connection is dropped and the command re-issued.
#pragma once

#include <cstdint>
#include <cstring>
#include <span>

#include "core/bytes.hpp"

namespace iscsikit::initiator {

enum class DataInError : std::uint8_t {
    none,
    beyond_buffer,  // offset + length > ExpectedDataTransferLength
    out_of_order,   // offset is not where the previous PDU ended
    bad_data_sn,    // DataSN is not the next expected
    not_a_read,     // Data-In for a command with no read buffer
};
const char* data_in_error_name(DataInError e);

class DataInAssembler {
public:
    DataInAssembler() = default;
    explicit DataInAssembler(std::span<std::byte> buffer) : buffer_(buffer) {}

    // Where the next Data-In's data belongs, when the header says it is the next piece and it
    // fits; empty otherwise (accept then judges it).
    std::span<std::byte> destination(std::uint32_t data_sn, std::uint32_t buffer_offset, std::uint32_t length) const {
        if (data_sn != next_data_sn_ || buffer_offset != received_ || buffer_offset > buffer_.size() ||
            length > buffer_.size() - buffer_offset)
            return {};
        return buffer_.subspan(buffer_offset, length);
    }

    // Places one Data-In PDU's data (unless it is already in place, received there through
    // destination()); nothing is copied when it is rejected.
    DataInError accept(std::uint32_t data_sn, std::uint32_t buffer_offset, ConstByteSpan data) {
        if (buffer_.empty() && !data.empty()) return DataInError::not_a_read;
        if (data_sn != next_data_sn_) return DataInError::bad_data_sn;
        if (buffer_offset != received_) return DataInError::out_of_order;
        if (buffer_offset > buffer_.size() || data.size() > buffer_.size() - buffer_offset)
            return DataInError::beyond_buffer;
        std::byte* into = buffer_.data() + buffer_offset;
        if (!data.empty() && data.data() != into) std::memcpy(into, data.data(), data.size());
        received_ += static_cast<std::uint32_t>(data.size());
        ++next_data_sn_;
        return DataInError::none;
    }

    std::uint32_t received() const { return received_; }
    std::uint32_t next_data_sn() const { return next_data_sn_; }
    std::size_t expected() const { return buffer_.size(); }
    void restart() {
        received_ = 0;
        next_data_sn_ = 0;
    }

private:
    std::span<std::byte> buffer_;
    std::uint32_t received_ = 0;
    std::uint32_t next_data_sn_ = 0;
};

}  // namespace iscsikit::initiator
