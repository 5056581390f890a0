#include "services/serve_config.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "core/file_io.h"
#include "core/status_macros.h"
#include "core/yaml_fields.h"
#include "services/metrics_http_server.h"

namespace plume::services {

absl::StatusOr<ServeConfig> ServeConfig::FromYaml(absl::string_view text,
                                                  absl::string_view source) {
  using core::YamlFields;
  ASSIGN_OR_RETURN(YamlFields root, YamlFields::Parse(text, source));
  ServeConfig c;
  RETURN_IF_ERROR(root.Read("checkpoint", &c.checkpoint));
  RETURN_IF_ERROR(root.Read("model_name", &c.model_name));
  RETURN_IF_ERROR(root.Read("listen", &c.listen));
  RETURN_IF_ERROR(root.Read("metrics_listen", &c.metrics_listen));
  RETURN_IF_ERROR(root.Read("threads", &c.threads));
  RETURN_IF_ERROR(root.Read("drain_grace_seconds", &c.drain_grace_seconds));
  RETURN_IF_ERROR(root.Read("log_prompts", &c.log_prompts));

  ASSIGN_OR_RETURN(YamlFields engine, root.Child("engine"));
  RETURN_IF_ERROR(engine.Read("max_running", &c.max_running));
  RETURN_IF_ERROR(engine.Read("max_waiting", &c.max_waiting));
  RETURN_IF_ERROR(engine.Read("max_step_tokens", &c.max_step_tokens));
  RETURN_IF_ERROR(engine.Read("max_context", &c.max_context));
  RETURN_IF_ERROR(engine.Read("weights", &c.weights));
  RETURN_IF_ERROR(engine.Finish());

  ASSIGN_OR_RETURN(YamlFields limits, root.Child("limits"));
  RETURN_IF_ERROR(limits.Read("max_prompt_tokens", &c.max_prompt_tokens));
  RETURN_IF_ERROR(limits.Read("max_new_tokens", &c.max_new_tokens));
  RETURN_IF_ERROR(limits.Read("default_max_tokens", &c.default_max_tokens));
  RETURN_IF_ERROR(limits.Read("max_request_bytes", &c.max_request_bytes));
  RETURN_IF_ERROR(limits.Finish());

  ASSIGN_OR_RETURN(YamlFields tls, root.Child("tls"));
  RETURN_IF_ERROR(tls.Read("cert", &c.tls_cert));
  RETURN_IF_ERROR(tls.Read("key", &c.tls_key));
  RETURN_IF_ERROR(tls.Read("client_ca", &c.tls_client_ca));
  RETURN_IF_ERROR(tls.Finish());

  ASSIGN_OR_RETURN(YamlFields auth, root.Child("auth"));
  RETURN_IF_ERROR(auth.Read("api_keys_file", &c.api_keys_file));
  RETURN_IF_ERROR(auth.Finish());
  RETURN_IF_ERROR(root.Finish());
  return c;
}

int ServeConfig::ResolvedDefaultMaxTokens() const {
  return default_max_tokens > 0 ? default_max_tokens : std::min(128, max_new_tokens);
}

absl::StatusOr<ServeConfig> ServeConfig::FromYamlFile(const std::string& path) {
  ASSIGN_OR_RETURN(std::string text, core::ReadFile(path));
  return FromYaml(text, path);
}

absl::Status ServeConfig::Validate() const {
  auto bad = [](absl::string_view key, auto value, absl::string_view rule) {
    return absl::InvalidArgumentError(absl::StrCat(key, "=", value, " ", rule));
  };
  if (checkpoint.empty()) {
    return absl::InvalidArgumentError("checkpoint is not set (a model directory to serve)");
  }
  std::string host;
  int port = 0;
  if (absl::Status s = SplitHostPort(listen, &host, &port); !s.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("listen: ", s.message()));
  }
  if (!metrics_listen.empty()) {
    if (absl::Status s = SplitHostPort(metrics_listen, &host, &port); !s.ok()) {
      return absl::InvalidArgumentError(absl::StrCat("metrics_listen: ", s.message()));
    }
  }
  if (threads < 0) return bad("threads", threads, "must be >= 0 (0 = all cores)");
  if (weights != "float32" && weights != "bfloat16") {
    return bad("engine.weights", weights, "must be float32 or bfloat16");
  }
  if (max_running < 1 || max_running > 1024) {
    return bad("engine.max_running", max_running, "must be in [1, 1024]");
  }
  if (max_waiting < 0) return bad("engine.max_waiting", max_waiting, "must be >= 0");
  if (max_step_tokens < max_running) {
    return bad("engine.max_step_tokens", max_step_tokens,
               absl::StrCat("must be >= engine.max_running=", max_running));
  }
  if (max_context < 0) return bad("engine.max_context", max_context, "must be >= 0");
  if (max_prompt_tokens < 0) {
    return bad("limits.max_prompt_tokens", max_prompt_tokens, "must be >= 0 (0 = context - 1)");
  }
  if (max_new_tokens < 1) return bad("limits.max_new_tokens", max_new_tokens, "must be >= 1");
  if (default_max_tokens < 0 || default_max_tokens > max_new_tokens) {
    return bad("limits.default_max_tokens", default_max_tokens,
               absl::StrCat("must be in [0, limits.max_new_tokens=", max_new_tokens, "]"));
  }
  if (max_request_bytes < 1024 || max_request_bytes > (64 << 20)) {
    return bad("limits.max_request_bytes", max_request_bytes, "must be in [1024, 67108864]");
  }
  if (tls_cert.empty() != tls_key.empty()) {
    return absl::InvalidArgumentError("tls.cert and tls.key must be set together");
  }
  if (!tls_client_ca.empty() && tls_cert.empty()) {
    return absl::InvalidArgumentError("tls.client_ca needs tls.cert and tls.key");
  }
  if (!(drain_grace_seconds >= 0 && drain_grace_seconds <= 3600)) {
    return bad("drain_grace_seconds", drain_grace_seconds, "must be in [0, 3600]");
  }
  return absl::OkStatus();
}

}  // namespace plume::services
