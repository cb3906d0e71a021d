#include "tests/storage/power_loss_fs.h"

#include <filesystem>
#include <utility>

namespace bank::testing {
namespace {

class PowerLossFile final : public rocksdb::FSWritableFileOwnerWrapper {
 public:
  PowerLossFile(std::unique_ptr<rocksdb::FSWritableFile> file,
                PowerLossFileSystem* fs, std::string path)
      : FSWritableFileOwnerWrapper(std::move(file)),
        fs_(fs),
        path_(std::move(path)) {}

  rocksdb::IOStatus Append(const rocksdb::Slice& data,
                           const rocksdb::IOOptions& options,
                           rocksdb::IODebugContext* debug) override {
    if (fs_->crashed()) return Lost();
    rocksdb::IOStatus status =
        FSWritableFileOwnerWrapper::Append(data, options, debug);
    if (status.ok()) fs_->Appended(path_, data.size());
    return status;
  }
  rocksdb::IOStatus Append(const rocksdb::Slice& data,
                           const rocksdb::IOOptions& options,
                           const rocksdb::DataVerificationInfo&,
                           rocksdb::IODebugContext* debug) override {
    return Append(data, options, debug);
  }
  rocksdb::IOStatus PositionedAppend(const rocksdb::Slice&, uint64_t,
                                     const rocksdb::IOOptions&,
                                     rocksdb::IODebugContext*) override {
    return rocksdb::IOStatus::NotSupported("PowerLossFile: positioned append");
  }
  rocksdb::IOStatus PositionedAppend(const rocksdb::Slice&, uint64_t,
                                     const rocksdb::IOOptions&,
                                     const rocksdb::DataVerificationInfo&,
                                     rocksdb::IODebugContext*) override {
    return rocksdb::IOStatus::NotSupported("PowerLossFile: positioned append");
  }
  rocksdb::IOStatus Flush(const rocksdb::IOOptions& options,
                          rocksdb::IODebugContext* debug) override {
    if (fs_->crashed()) return Lost();
    return FSWritableFileOwnerWrapper::Flush(options, debug);
  }
  rocksdb::IOStatus Sync(const rocksdb::IOOptions& options,
                         rocksdb::IODebugContext* debug) override {
    return DoSync(options, debug, false);
  }
  rocksdb::IOStatus Fsync(const rocksdb::IOOptions& options,
                          rocksdb::IODebugContext* debug) override {
    return DoSync(options, debug, true);
  }
  rocksdb::IOStatus RangeSync(uint64_t, uint64_t, const rocksdb::IOOptions&,
                              rocksdb::IODebugContext*) override {
    // sync_file_range makes nothing durable: count nothing.
    return fs_->crashed() ? Lost() : rocksdb::IOStatus::OK();
  }
  rocksdb::IOStatus Close(const rocksdb::IOOptions& options,
                          rocksdb::IODebugContext* debug) override {
    // Closing does not sync; after the crash it must not write either.
    if (fs_->crashed()) return Lost();
    return FSWritableFileOwnerWrapper::Close(options, debug);
  }

 private:
  rocksdb::IOStatus DoSync(const rocksdb::IOOptions& options,
                           rocksdb::IODebugContext* debug, bool full) {
    if (fs_->crashed()) return Lost();
    rocksdb::IOStatus status =
        full ? FSWritableFileOwnerWrapper::Fsync(options, debug)
             : FSWritableFileOwnerWrapper::Sync(options, debug);
    if (status.ok()) fs_->Synced(path_);
    return status;
  }
  static rocksdb::IOStatus Lost() {
    return rocksdb::IOStatus::IOError("simulated power loss");
  }

  PowerLossFileSystem* const fs_;
  const std::string path_;
};

}  // namespace

PowerLossFileSystem::PowerLossFileSystem()
    : FileSystemWrapper(rocksdb::FileSystem::Default()) {}

rocksdb::IOStatus PowerLossFileSystem::NewWritableFile(
    const std::string& path, const rocksdb::FileOptions& options,
    std::unique_ptr<rocksdb::FSWritableFile>* result,
    rocksdb::IODebugContext* debug) {
  if (crashed()) return rocksdb::IOStatus::IOError("simulated power loss");
  std::unique_ptr<rocksdb::FSWritableFile> file;
  rocksdb::IOStatus status =
      target()->NewWritableFile(path, options, &file, debug);
  if (!status.ok()) return status;
  {
    absl::MutexLock lock(&mu_);
    files_[path] = FileState();
  }
  *result = std::make_unique<PowerLossFile>(std::move(file), this, path);
  return status;
}

rocksdb::IOStatus PowerLossFileSystem::ReopenWritableFile(
    const std::string& path, const rocksdb::FileOptions& options,
    std::unique_ptr<rocksdb::FSWritableFile>* result,
    rocksdb::IODebugContext* debug) {
  if (crashed()) return rocksdb::IOStatus::IOError("simulated power loss");
  std::unique_ptr<rocksdb::FSWritableFile> file;
  rocksdb::IOStatus status =
      target()->ReopenWritableFile(path, options, &file, debug);
  if (!status.ok()) return status;
  {
    // What the file held before is durable; appends start past it.
    std::error_code error;
    const uint64_t size = std::filesystem::file_size(path, error);
    absl::MutexLock lock(&mu_);
    FileState& state = files_[path];
    state.written_bytes = state.synced_bytes = error ? 0 : size;
    state.ever_synced = true;
  }
  *result = std::make_unique<PowerLossFile>(std::move(file), this, path);
  return status;
}

rocksdb::IOStatus PowerLossFileSystem::RenameFile(
    const std::string& source, const std::string& target,
    const rocksdb::IOOptions& options, rocksdb::IODebugContext* debug) {
  if (crashed()) return rocksdb::IOStatus::IOError("simulated power loss");
  rocksdb::IOStatus status =
      FileSystemWrapper::RenameFile(source, target, options, debug);
  if (status.ok()) {
    absl::MutexLock lock(&mu_);
    auto it = files_.find(source);
    if (it != files_.end()) {
      files_[target] = it->second;
      files_.erase(source);
    }
  }
  return status;
}

rocksdb::IOStatus PowerLossFileSystem::DeleteFile(
    const std::string& path, const rocksdb::IOOptions& options,
    rocksdb::IODebugContext* debug) {
  if (crashed()) return rocksdb::IOStatus::IOError("simulated power loss");
  rocksdb::IOStatus status =
      FileSystemWrapper::DeleteFile(path, options, debug);
  if (status.ok()) {
    absl::MutexLock lock(&mu_);
    files_.erase(path);
  }
  return status;
}

void PowerLossFileSystem::Crash() {
  absl::MutexLock lock(&mu_);
  crashed_ = true;
}

bool PowerLossFileSystem::crashed() const {
  absl::MutexLock lock(&mu_);
  return crashed_;
}

void PowerLossFileSystem::CrashAfterAppends(uint64_t count) {
  absl::MutexLock lock(&mu_);
  appends_until_crash_ = count;
}

void PowerLossFileSystem::Appended(const std::string& path, uint64_t bytes) {
  absl::MutexLock lock(&mu_);
  files_[path].written_bytes += bytes;
  if (appends_until_crash_ > 0 && --appends_until_crash_ == 0) {
    crashed_ = true;
  }
}

void PowerLossFileSystem::Synced(const std::string& path) {
  absl::MutexLock lock(&mu_);
  FileState& state = files_[path];
  state.synced_bytes = state.written_bytes;
  state.ever_synced = true;
}

uint64_t PowerLossFileSystem::DropUnsyncedData(uint32_t seed) {
  absl::MutexLock lock(&mu_);
  std::mt19937 rng(seed);
  uint64_t dropped_bytes = 0;
  for (const auto& [path, state] : files_) {
    std::error_code error;
    const uint64_t size = std::filesystem::file_size(path, error);
    if (error) continue;
    if (!state.ever_synced) {
      dropped_bytes += size;
      std::filesystem::remove(path, error);
    } else if (size > state.synced_bytes) {
      const uint64_t kept = std::uniform_int_distribution<uint64_t>(
          state.synced_bytes, size)(rng);
      dropped_bytes += size - kept;
      std::filesystem::resize_file(path, kept, error);
    }
  }
  files_.clear();
  return dropped_bytes;
}

}  // namespace bank::testing
