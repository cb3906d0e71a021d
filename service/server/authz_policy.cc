#include "service/server/authz_policy.h"

#include <string>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "google/protobuf/struct.pb.h"
#include "google/protobuf/util/json_util.h"

namespace bank {
namespace {

using google::protobuf::ListValue;
using google::protobuf::Struct;
using google::protobuf::Value;

absl::Status Invalid(absl::string_view where, absl::string_view what) {
  return absl::InvalidArgumentError(absl::StrCat(where, ": ", what));
}

// CheckFields: `object` has only the `allowed` keys.
absl::Status CheckFields(const Struct& object, absl::string_view where,
                         const std::vector<absl::string_view>& allowed) {
  for (const auto& [key, value] : object.fields()) {
    bool known = false;
    for (absl::string_view name : allowed) known = known || key == name;
    if (!known) {
      return Invalid(
          where, absl::StrCat("unknown or unsupported field \"", key, "\""));
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<std::string>> ParsePatterns(
    const Value& value, absl::string_view where) {
  if (value.kind_case() != Value::kListValue) {
    return Invalid(where, "must be a list of strings");
  }
  const ListValue& list = value.list_value();
  if (static_cast<size_t>(list.values_size()) > kAuthzPatternsPerRuleMax) {
    return Invalid(where, absl::StrCat("more than ", kAuthzPatternsPerRuleMax,
                                       " patterns"));
  }
  std::vector<std::string> patterns;
  for (const Value& item : list.values()) {
    if (item.kind_case() != Value::kStringValue ||
        item.string_value().empty()) {
      return Invalid(where, "every pattern must be a non-empty string");
    }
    patterns.push_back(item.string_value());
  }
  return patterns;
}

// ParseSection parses "source" or "request": an object whose one allowed
// field (`list_name`) is a list of patterns. An absent list matches all.
absl::Status ParseSection(const Struct& rule, absl::string_view section,
                          absl::string_view list_name, absl::string_view where,
                          bool& any, std::vector<std::string>& patterns) {
  const auto found = rule.fields().find(std::string(section));
  if (found == rule.fields().end()) return absl::OkStatus();
  const std::string here = absl::StrCat(where, ".", section);
  if (found->second.kind_case() != Value::kStructValue) {
    return Invalid(here, "must be an object");
  }
  const Struct& object = found->second.struct_value();
  absl::Status status = CheckFields(object, here, {list_name});
  if (!status.ok()) return status;
  const auto list = object.fields().find(std::string(list_name));
  if (list == object.fields().end()) return absl::OkStatus();
  absl::StatusOr<std::vector<std::string>> parsed =
      ParsePatterns(list->second, absl::StrCat(here, ".", list_name));
  if (!parsed.ok()) return parsed.status();
  any = false;
  patterns = *std::move(parsed);
  return absl::OkStatus();
}

absl::StatusOr<AuthzRule> ParseRule(const Value& value,
                                    const std::string& where) {
  if (value.kind_case() != Value::kStructValue) {
    return Invalid(where, "must be an object");
  }
  const Struct& object = value.struct_value();
  absl::Status status =
      CheckFields(object, where, {"name", "source", "request"});
  if (!status.ok()) return status;
  AuthzRule rule;
  const auto name = object.fields().find("name");
  if (name == object.fields().end() ||
      name->second.kind_case() != Value::kStringValue ||
      name->second.string_value().empty()) {
    return Invalid(where, "needs a non-empty \"name\"");
  }
  rule.name = name->second.string_value();
  status = ParseSection(object, "source", "principals", where, rule.any_source,
                        rule.principals);
  if (!status.ok()) return status;
  status = ParseSection(object, "request", "paths", where, rule.any_request,
                        rule.paths);
  if (!status.ok()) return status;
  return rule;
}

absl::Status ParseRules(const Struct& policy, absl::string_view field,
                        bool required, std::vector<AuthzRule>& rules) {
  const auto found = policy.fields().find(std::string(field));
  if (found == policy.fields().end()) {
    return required ? Invalid("policy", absl::StrCat("needs \"", field, "\""))
                    : absl::OkStatus();
  }
  if (found->second.kind_case() != Value::kListValue ||
      (required && found->second.list_value().values_size() == 0)) {
    return Invalid(field, required ? "must be a non-empty list of rules"
                                   : "must be a list of rules");
  }
  const ListValue& list = found->second.list_value();
  if (static_cast<size_t>(list.values_size()) > kAuthzRulesMax) {
    return Invalid(field, absl::StrCat("more than ", kAuthzRulesMax, " rules"));
  }
  for (int i = 0; i < list.values_size(); ++i) {
    absl::StatusOr<AuthzRule> rule =
        ParseRule(list.values(i), absl::StrCat(field, "[", i, "]"));
    if (!rule.ok()) return rule.status();
    rules.push_back(*std::move(rule));
  }
  return absl::OkStatus();
}

bool AnyMatches(const std::vector<std::string>& patterns,
                absl::string_view value) {
  for (const std::string& pattern : patterns) {
    if (MatchesPattern(pattern, value)) return true;
  }
  return false;
}

bool SourceMatches(const AuthzRule& rule, const AuthzPeer& peer) {
  if (rule.any_source) return true;
  if (!peer.authenticated) return false;
  for (const std::string& name : peer.names) {
    if (AnyMatches(rule.principals, name)) return true;
  }
  // "*" stands for any authenticated client, even one with no name.
  for (const std::string& pattern : rule.principals) {
    if (pattern == "*") return true;
  }
  return false;
}

bool RuleMatches(const AuthzRule& rule, const AuthzPeer& peer,
                 absl::string_view path) {
  return SourceMatches(rule, peer) &&
         (rule.any_request || AnyMatches(rule.paths, path));
}

}  // namespace

absl::StatusOr<AuthzPolicy> ParseAuthzPolicy(absl::string_view json) {
  Struct object;
  const auto parsed =
      google::protobuf::util::JsonStringToMessage(std::string(json), &object);
  if (!parsed.ok()) {
    return Invalid("policy", absl::StrCat("not a JSON object: ",
                                          std::string(parsed.message())));
  }
  absl::Status status =
      CheckFields(object, "policy", {"name", "deny_rules", "allow_rules"});
  if (!status.ok()) return status;
  AuthzPolicy policy;
  const auto name = object.fields().find("name");
  if (name == object.fields().end() ||
      name->second.kind_case() != Value::kStringValue ||
      name->second.string_value().empty()) {
    return Invalid("policy", "needs a non-empty \"name\"");
  }
  policy.name = name->second.string_value();
  status = ParseRules(object, "deny_rules", false, policy.deny_rules);
  if (!status.ok()) return status;
  status = ParseRules(object, "allow_rules", true, policy.allow_rules);
  if (!status.ok()) return status;
  return policy;
}

bool MatchesPattern(absl::string_view pattern, absl::string_view value) {
  if (pattern == "*") return true;
  if (pattern.size() > 1 && absl::EndsWith(pattern, "*")) {
    return absl::StartsWith(value, pattern.substr(0, pattern.size() - 1));
  }
  if (pattern.size() > 1 && absl::StartsWith(pattern, "*")) {
    return absl::EndsWith(value, pattern.substr(1));
  }
  return value == pattern;
}

absl::Status Authorize(const AuthzPolicy& policy, const AuthzPeer& peer,
                       absl::string_view path) {
  for (const AuthzRule& rule : policy.deny_rules) {
    if (RuleMatches(rule, peer, path)) {
      return absl::PermissionDeniedError(
          absl::StrCat(path, " denied by rule \"", rule.name, "\" of policy \"",
                       policy.name, "\""));
    }
  }
  for (const AuthzRule& rule : policy.allow_rules) {
    if (RuleMatches(rule, peer, path)) return absl::OkStatus();
  }
  return absl::PermissionDeniedError(absl::StrCat(
      path, " is not allowed for this client by policy \"", policy.name, "\""));
}

}  // namespace bank
