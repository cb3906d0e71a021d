// The article scenario (--scenario=article): two card holders withdraw from
// one account at the same moment, as in the article this project answers.
//
// An account "<prefix>-article" is opened with 80; 马伊琍 withdraws 30 and
// 姚笛 withdraws 10 concurrently (two RPCs in flight at once); the balance is
// read back and the article's lines are printed:
//
//   初始化余额 80
//   [-] 30 马伊琍
//   [-] 10 姚笛
//   剩余余额 40
//
// (withdrawal lines in the order the server answered them; the last line is
// the real final balance), followed by the invariant verdict. A lost update
// (unsafe engine with injected latency) leaves 70 or 50 and fails the check.

#ifndef BANK_LOADGEN_ARTICLE_H_
#define BANK_LOADGEN_ARTICLE_H_

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "bank/v1/bank.grpc.pb.h"
#include "loadgen/config.h"
#include "loadgen/report.h"

namespace bank::loadgen {

inline constexpr int64_t kArticleInitialBalance = 80;

struct ArticleResult {
  std::string text;  // The article's lines and the verdict block.
  std::string json;  // The same as a JSON object.
  InvariantReport invariant;
};

// RunArticle plays the scenario against `stub` (the target must be
// reachable). Errors (the account cannot be opened or read) are returned.
absl::StatusOr<ArticleResult> RunArticle(const LoadgenConfig& config,
                                         bank::v1::BankService::Stub& stub);

}  // namespace bank::loadgen

#endif  // BANK_LOADGEN_ARTICLE_H_
