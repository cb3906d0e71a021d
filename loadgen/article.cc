#include "loadgen/article.h"

#include <array>
#include <memory>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "grpcpp/client_context.h"
#include "loadgen/control.h"
#include "loadgen/ledger.h"

namespace bank::loadgen {
namespace {

struct Withdrawal {
  const char* actor;
  int64_t amount;
  grpc::ClientContext context;
  bank::v1::WithdrawRequest request;
  bank::v1::WithdrawResponse response;
  grpc::Status status;
};

// Answers holds the order in which the withdrawals were answered; every
// callback co-owns it, so none outlives it.
class Answers {
 public:
  void Add(size_t index) {
    absl::MutexLock lock(&mu_);
    order_.push_back(index);
  }
  std::vector<size_t> WaitFor(size_t count) {
    absl::MutexLock lock(&mu_);
    auto all_in = [this, count]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
      return order_.size() == count;
    };
    mu_.Await(absl::Condition(&all_in));
    return order_;
  }

 private:
  absl::Mutex mu_;
  std::vector<size_t> order_ ABSL_GUARDED_BY(mu_);
};

// Withdraw concurrently: both RPCs are started before either is awaited.
std::vector<size_t> WithdrawConcurrently(
    const LoadgenConfig& config, bank::v1::BankService::Stub& stub,
    const std::string& account_id, std::array<Withdrawal, 2>& withdrawals) {
  auto answers = std::make_shared<Answers>();
  for (size_t i = 0; i < withdrawals.size(); ++i) {
    Withdrawal& w = withdrawals[i];
    w.context.set_deadline(absl::ToChronoTime(absl::Now() + config.deadline));
    w.request.set_account_id(account_id);
    w.request.set_amount(w.amount);
    w.request.set_actor(w.actor);
    stub.async()->Withdraw(&w.context, &w.request, &w.response,
                           [answers, &w, i](grpc::Status status) {
                             w.status = std::move(status);
                             answers->Add(i);
                           });
  }
  return answers->WaitFor(withdrawals.size());
}

std::string WithdrawalLine(const Withdrawal& w) {
  if (w.status.ok()) return absl::StrCat("[-] ", w.amount, " ", w.actor, "\n");
  return absl::StrCat("[x] ", w.amount, " ", w.actor, " (",
                      absl::StatusCodeToString(
                          static_cast<absl::StatusCode>(w.status.error_code())),
                      ": ", w.status.error_message(), ")\n");
}

std::string ArticleJson(const std::string& account_id,
                        const std::array<Withdrawal, 2>& withdrawals,
                        const std::vector<size_t>& order, int64_t final_balance,
                        const InvariantReport& invariant) {
  std::string items;
  for (size_t i : order) {
    const Withdrawal& w = withdrawals[i];
    absl::StrAppend(&items, items.empty() ? "" : ", ",
                    "{\"actor\": ", JsonQuote(w.actor),
                    ", \"amount\": ", w.amount, ", \"status\": ",
                    JsonQuote(absl::StatusCodeToString(
                        static_cast<absl::StatusCode>(w.status.error_code()))),
                    "}");
  }
  return absl::StrCat(
      "{\"schema\": \"bank_loadgen.article.v1\", \"account\": ",
      JsonQuote(account_id), ", \"initial_balance\": ", kArticleInitialBalance,
      ", \"withdrawals\": [", items, "], \"final_balance\": ", final_balance,
      ", \"invariant\": ", FormatInvariantJson(invariant), "}\n");
}

}  // namespace

absl::StatusOr<ArticleResult> RunArticle(const LoadgenConfig& config,
                                         bank::v1::BankService::Stub& stub) {
  const std::vector<std::string> ids = {
      absl::StrCat(config.account_prefix, "-article")};
  absl::Status opened = OpenAccounts(stub, ids, kArticleInitialBalance);
  if (!opened.ok()) return opened;
  std::array<Withdrawal, 2> withdrawals{};
  withdrawals[0].actor = "马伊琍";
  withdrawals[0].amount = 30;
  withdrawals[1].actor = "姚笛";
  withdrawals[1].amount = 10;
  const std::vector<size_t> order =
      WithdrawConcurrently(config, stub, ids[0], withdrawals);
  Ledger ledger({kArticleInitialBalance});
  for (const Withdrawal& w : withdrawals) {
    const Outcome outcome = ClassifyStatus(w.status.error_code());
    ledger.RecordWithdraw(0, w.amount, outcome);
    if (outcome == Outcome::kApplied)
      ledger.ObserveBalance(0, w.response.balance());
  }
  int reads = 0;
  absl::StatusOr<std::vector<int64_t>> balances = ReadSettledBalances(
      stub, ids, ledger.Counts().indeterminate > 0, config.settle, reads);
  if (!balances.ok()) return balances.status();
  const Verdict verdict = ledger.Check(*balances);
  ArticleResult result;
  result.invariant.pass = verdict.pass;
  result.invariant.accounts = 1;
  result.invariant.outcomes = ledger.Counts();
  result.invariant.total_expected_min = verdict.total_expected_min;
  result.invariant.total_expected_max = verdict.total_expected_max;
  result.invariant.total_actual = verdict.total_actual;
  result.invariant.negative_replies = verdict.negative_replies;
  result.invariant.settle_reads = reads;
  result.invariant.indeterminate_max = config.indeterminate_max;
  DecideVerdict("", result.invariant);
  result.invariant.violations = NameViolations(verdict, ids);
  result.text = absl::StrCat("初始化余额 ", kArticleInitialBalance, "\n");
  for (size_t i : order) result.text += WithdrawalLine(withdrawals[i]);
  absl::StrAppend(&result.text, "剩余余额 ", (*balances)[0], "\n\n",
                  FormatInvariant(result.invariant));
  result.json =
      ArticleJson(ids[0], withdrawals, order, (*balances)[0], result.invariant);
  return result;
}

}  // namespace bank::loadgen
