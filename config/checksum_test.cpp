// The checksum an operator compares with `sha256sum FILE`: the same digest, of the same bytes.
#include "config/checksum.hpp"

#include <gtest/gtest.h>
#include <stdlib.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "config/loader.hpp"

namespace triggerd::config {
namespace {

namespace fs = std::filesystem;

// A folder of its own under the temp directory, removed with everything in it.
class TempFolder {
 public:
  TempFolder() {
    std::string pattern = (fs::temp_directory_path() / "triggerd-checksum-XXXXXX").string();
    if (mkdtemp(pattern.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
    path_ = pattern;
  }
  ~TempFolder() {
    std::error_code ignored;
    fs::remove_all(path_, ignored);
  }
  std::string file(const std::string& name, const std::string& content) const {
    const std::string path = (path_ / name).string();
    std::ofstream(path, std::ios::binary) << content;
    return path;
  }
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

TEST(ConfigChecksum, IsTheSha256OfTheBytesAsSha256sumPrintsIt) {
  // printf 'abc' | sha256sum; printf '' | sha256sum
  EXPECT_EQ(checksum_of("abc"),
            "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(checksum_of(""),
            "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}

TEST(ConfigChecksum, OfAFileIsOfItsBytesThroughSymlinksToo) {
  TempFolder folder;
  const std::string text = std::string("functions: {}\ntriggers: {}\n\0binary\xff", 36);
  const std::string path = folder.file("triggerd.yaml", text);
  EXPECT_EQ(checksum_of_file(path), checksum_of(text));
  fs::create_symlink(path, folder.path() / "link.yaml");
  EXPECT_EQ(checksum_of_file((folder.path() / "link.yaml").string()), checksum_of(text));
}

TEST(ConfigChecksum, OfAFileThatCannotBeReadIsNoneAndSaysWhy) {
  TempFolder folder;
  std::string error;
  EXPECT_EQ(checksum_of_file((folder.path() / "missing.yaml").string(), &error), std::nullopt);
  EXPECT_EQ(error, "No such file or directory");
  // A folder opens, but reading it fails: it must not pass for an empty file.
  EXPECT_EQ(checksum_of_file(folder.path().string(), &error), std::nullopt);
  EXPECT_EQ(error, "Is a directory");
}

TEST(ConfigChecksum, TheLoadedConfigCarriesTheChecksumOfItsFile) {
  TempFolder folder;
  const std::string text =
      "# comments count: they are bytes of the file\nfunctions: {}\ntriggers: {}\n";
  const std::string path = folder.file("triggerd.yaml", text);
  LoadResult loaded = load_file(path);
  ASSERT_TRUE(loaded.ok());
  EXPECT_EQ(loaded.config->checksum, checksum_of(text));
  EXPECT_EQ(load_string(text + "\n", "t.yaml").config->checksum, checksum_of(text + "\n"))
      << "one byte more is another checksum";
}

}  // namespace
}  // namespace triggerd::config
