// A backstore is where a logical unit's blocks live: RAM, a regular file, a block device. One
// interface, no SCSI knowledge (DESIGN.md layers). Offsets and lengths are in bytes and always
// multiples of the block size; callbacks run on the calling reactor's thread.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "core/io_engine.hpp"
#include "core/result.hpp"

namespace iscsikit::backstore {

struct Options {
    std::uint32_t block_size = 512;  // 512 or 4096
    bool read_only = false;
    bool thin = false;               // later issues: UNMAP / provisioning
    bool removable = false;
    bool create = true;              // file: create it (sparse) when missing, with `size` bytes
    std::uint64_t size = 0;          // ram: required; file: size of a new file, or 0 for "as is"
};

class Backstore {
public:
    virtual ~Backstore() = default;
    virtual std::string describe() const = 0;  // "ram:1073741824", "file:/srv/lun0.img"
    virtual std::uint64_t size_bytes() const = 0;
    virtual std::uint32_t block_size() const = 0;
    virtual bool read_only() const = 0;

    // res as IoCallback: the full length, or -errno.
    virtual void read(std::uint64_t offset, ByteSpan dst, IoEngine& io, IoCallback done) = 0;
    // fua: the data is on stable storage before `done` runs (RFC: FUA / write cache off).
    virtual void write(std::uint64_t offset, ConstByteSpan src, bool fua, IoEngine& io, IoCallback done) = 0;
    // Everything written before is on stable storage when `done` runs.
    virtual void flush(IoEngine& io, IoCallback done) = 0;
};

Result<std::unique_ptr<Backstore>> make_ram(const Options& options);
Result<std::unique_ptr<Backstore>> open_file(const std::string& path, const Options& options);
Result<std::unique_ptr<Backstore>> open_block_device(const std::string& path, const Options& options);

}  // namespace iscsikit::backstore
