// mount/mount_table: finding our mount in a mountinfo text (proc(5)).
#include <gtest/gtest.h>

#include "mount/mount_table.hpp"

namespace iscsikit::mount::testing {
namespace {

constexpr const char* kMountinfo =
    "22 1 0:21 / / rw,relatime shared:1 - ext4 /dev/vda rw\n"
    "43 22 0:39 / /tmp/mnt1 rw,nosuid,nodev,relatime - fuse.iscsikit iscsi://127.0.0.1:3260/iqn.x rw,user_id=0\n"
    "44 22 0:40 / /tmp/a\\040dir rw shared:5 master:2 - fuse.iscsikit iscsi://h/iqn.y rw\n"
    "45 43 7:0 / /tmp/mnt1 rw - ext4 /dev/loop0 rw\n";

TEST(FindMount, TheEntryOnTopOfAMountPointWins) {
    auto entry = find_mount(kMountinfo, "/tmp/mnt1");
    ASSERT_TRUE(entry.has_value());
    EXPECT_EQ(entry->fstype, "ext4");  // mounted over the FUSE mount
    EXPECT_EQ(entry->major, 7u);
}

TEST(FindMount, EscapedPathsAndOptionalFieldsAreRead) {
    auto entry = find_mount(kMountinfo, "/tmp/a dir");
    ASSERT_TRUE(entry.has_value());
    EXPECT_EQ(entry->fstype, kFsType);
    EXPECT_EQ(entry->source, "iscsi://h/iqn.y");
    EXPECT_EQ(entry->major, 0u);
    EXPECT_EQ(entry->minor, 40u);
}

TEST(FindMount, APathNotMountedIsNotFound) {
    EXPECT_FALSE(find_mount(kMountinfo, "/tmp").has_value());
    EXPECT_FALSE(find_mount("garbage line\n\n", "/tmp/mnt1").has_value());
}

TEST(PidFile, NamesTheDeviceNumber) {
    const std::string path = pid_file_path(0, 39);
    EXPECT_NE(path.find("mount-0-39.pid"), std::string::npos) << path;
}

}  // namespace
}  // namespace iscsikit::mount::testing
