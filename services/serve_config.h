// plume-serve's configuration: a YAML file (configs/serve/*.yaml) read into this struct, then
// a few command-line flags override single keys. Every key is documented in docs/serving.md;
// unknown keys are errors naming the key and its line.
#pragma once

#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace plume::services {

struct ServeConfig {
  // --- What to serve and where.
  std::string checkpoint;                  // model directory: config.json, model.safetensors and
                                           // tokenizer files (a plume-train checkpoint); required
  std::string model_name;                  // name reported by GetModelInfo; "" = the checkpoint
                                           // directory's name
  std::string listen = "127.0.0.1:50051";  // gRPC HOST:PORT; port 0 = a free port
  std::string metrics_listen;              // HOST:PORT of the HTTP /metrics endpoint; "" = off
  int threads = 0;                         // LibTorch threads running the model; 0 = all cores

  // --- Batching and queueing (engine:).
  int max_running = 16;       // sequences decoding together (KV-cache slots); [1, 1024]
  int max_waiting = 64;       // requests waiting for a slot beyond those; more are rejected at
                              // once with RESOURCE_EXHAUSTED; >= 0
  int max_step_tokens = 256;  // tokens per forward step (decode + prompt chunks); >= max_running
  int max_context = 0;        // tokens per sequence; 0 = the model's n_positions
  std::string weights = "float32";  // what the decoding steps multiply with: "float32" (the
                                    // checkpoint's values) or "bfloat16" (half the bytes per
                                    // token, ~1.8x faster decoding; logits within 2e-2, see
                                    // docs/serving.md)

  // --- Request limits (limits:).
  int max_prompt_tokens = 0;      // longest prompt; 0 = the context minus one
  int max_new_tokens = 1024;      // largest max_tokens a request may ask for; >= 1
  int default_max_tokens = 0;     // max_tokens of requests that leave it unset; [0, max_new_tokens];
                                  // 0 = min(128, max_new_tokens)
  int max_request_bytes = 1 << 20;  // largest request message (gRPC max receive size);
                                    // [1024, 64 MiB]

  // --- Transport security (tls:). Both cert and key, or neither (plaintext).
  std::string tls_cert;       // PEM certificate chain of the server
  std::string tls_key;        // PEM private key of the server
  std::string tls_client_ca;  // PEM CA bundle; set = clients must present a certificate it signed

  // --- Authentication (auth:).
  std::string api_keys_file;  // one key per line; set = calls of plume.v1.CompletionService need
                              // `authorization: Bearer <key>`; "" = no keys

  // --- Shutdown and logging.
  double drain_grace_seconds = 30;  // SIGTERM/SIGINT: how long in-flight streams may take to
                                    // finish before they are ended with UNAVAILABLE; >= 0
  bool log_prompts = false;         // put prompt text in the per-request log lines

  absl::Status Validate() const;
  // default_max_tokens with 0 resolved.
  int ResolvedDefaultMaxTokens() const;

  static absl::StatusOr<ServeConfig> FromYaml(absl::string_view text, absl::string_view source);
  static absl::StatusOr<ServeConfig> FromYamlFile(const std::string& path);
};

}  // namespace plume::services
