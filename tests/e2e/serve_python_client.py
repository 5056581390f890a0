#!/usr/bin/python3
"""A plume-serve client in Python, from code generated out of the .proto files at test time.

Usage: serve_python_client.py HOST:PORT   (PYTHONPATH must hold the generated *_pb2 modules)
Prints one JSON object with what it saw; serve_test.cc checks it against the C++ client.
"""
import json
import sys

import grpc

import health_pb2  # grpc.health.v1, generated from grpc-proto's health.proto
import health_pb2_grpc
import reflection_pb2  # grpc.reflection.v1alpha
import reflection_pb2_grpc
from plume.v1 import completion_pb2, completion_service_pb2, completion_service_pb2_grpc


def main():
    address = sys.argv[1]
    report = {}
    with grpc.insecure_channel(address) as channel:
        health = health_pb2_grpc.HealthStub(channel)
        status = health.Check(health_pb2.HealthCheckRequest(service=""), timeout=10).status
        report["health"] = health_pb2.HealthCheckResponse.ServingStatus.Name(status)

        reflection = reflection_pb2_grpc.ServerReflectionStub(channel)
        requests = [
            reflection_pb2.ServerReflectionRequest(list_services=""),
            reflection_pb2.ServerReflectionRequest(
                file_containing_symbol="plume.v1.CompletionService"),
        ]
        responses = list(reflection.ServerReflectionInfo(iter(requests), timeout=10))
        report["services"] = sorted(
            s.name for s in responses[0].list_services_response.service)
        files = responses[1].file_descriptor_response.file_descriptor_proto
        report["reflection_has_complete"] = any(b"Complete" in f for f in files)

        stub = completion_service_pb2_grpc.CompletionServiceStub(channel)
        info = stub.GetModelInfo(completion_service_pb2.GetModelInfoRequest(), timeout=10)
        report["model_name"] = info.name
        ids = list(stub.Tokenize(completion_service_pb2.TokenizeRequest(text="Hello river"),
                                 timeout=10).token_ids)
        report["tokenize"] = ids
        report["detokenized"] = stub.Detokenize(
            completion_service_pb2.DetokenizeRequest(token_ids=ids), timeout=10).text

        request = completion_pb2.CompleteRequest(
            text="The river and the stone",
            max_tokens=12,
            sampling=completion_pb2.SamplingParameters(temperature=0.0),
            stopping=completion_pb2.StoppingCriteria(ignore_eos=True))
        text, token_ids, last = "", [], None
        for message in stub.Complete(request, timeout=60):
            text += message.text
            token_ids.extend(message.token_ids)
            if message.finish_reason != completion_pb2.FINISH_REASON_UNSPECIFIED:
                last = message
        report["completion_text"] = text
        report["completion_ids"] = token_ids
        report["finish_reason"] = completion_pb2.FinishReason.Name(last.finish_reason)
        report["completion_tokens"] = last.usage.completion_tokens

        try:
            for _ in stub.Complete(completion_pb2.CompleteRequest(text="x", max_tokens=0),
                                   timeout=10):
                pass
            report["error_code"] = "OK"
        except grpc.RpcError as error:
            report["error_code"] = error.code().name
            report["error_message"] = error.details()
    print(json.dumps(report))


if __name__ == "__main__":
    main()
