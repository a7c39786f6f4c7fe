// A grpc C++ server of grpc.testing.TestService/UnaryCall, EmptyCall and StreamingOutputCall, the
// baseline that `make bench-rpc` measures Capstan's server against: the implementation most users
// would pick. It answers UnaryCall with a payload of response_size zero bytes (synchronous API),
// and StreamingOutputCall with one payload of `size` zero bytes per response_parameters entry
// (callback API, so 1,000 concurrent streams need no thread each), like Capstan's interop server.
//
// usage: echo_server PORT [THREADS]   (listens on 127.0.0.1:PORT, prints "listening on PORT")
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>

#include <grpcpp/grpcpp.h>

#include "grpc/testing/test.grpc.pb.h"

namespace {

// Writes one response per response_parameters entry, then OK (interval_us is not honoured: the
// benchmark asks for none).
class StreamingWriter final : public grpc::ServerWriteReactor<grpc::testing::StreamingOutputCallResponse> {
 public:
  explicit StreamingWriter(const grpc::testing::StreamingOutputCallRequest* request) : request_(request) {
    WriteNext();
  }

  void OnWriteDone(bool ok) override {
    if (!ok) {
      Finish(grpc::Status(grpc::StatusCode::CANCELLED, "the stream ended"));
      return;
    }
    WriteNext();
  }

  void OnDone() override { delete this; }

 private:
  void WriteNext() {
    if (next_ >= request_->response_parameters_size()) {
      Finish(grpc::Status::OK);
      return;
    }
    auto* payload = response_.mutable_payload();
    payload->set_type(grpc::testing::COMPRESSABLE);
    payload->mutable_body()->assign(static_cast<size_t>(request_->response_parameters(next_).size()), '\0');
    ++next_;
    StartWrite(&response_);
  }

  const grpc::testing::StreamingOutputCallRequest* request_;
  grpc::testing::StreamingOutputCallResponse response_;
  int next_ = 0;
};

class TestServiceImpl final
    : public grpc::testing::TestService::WithCallbackMethod_StreamingOutputCall<grpc::testing::TestService::Service> {
  grpc::ServerWriteReactor<grpc::testing::StreamingOutputCallResponse>* StreamingOutputCall(
      grpc::CallbackServerContext*, const grpc::testing::StreamingOutputCallRequest* request) override {
    return new StreamingWriter(request);
  }

  grpc::Status EmptyCall(grpc::ServerContext*, const grpc::testing::Empty*,
                         grpc::testing::Empty*) override {
    return grpc::Status::OK;
  }

  grpc::Status UnaryCall(grpc::ServerContext*, const grpc::testing::SimpleRequest* request,
                         grpc::testing::SimpleResponse* response) override {
    auto* payload = response->mutable_payload();
    payload->set_type(grpc::testing::COMPRESSABLE);
    payload->mutable_body()->assign(static_cast<size_t>(request->response_size()), '\0');
    return grpc::Status::OK;
  }
};

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: %s PORT [THREADS]\n", argv[0]);
    return 2;
  }
  std::string address = std::string("127.0.0.1:") + argv[1];
  TestServiceImpl service;
  grpc::ServerBuilder builder;
  int port = 0;
  builder.AddListeningPort(address, grpc::InsecureServerCredentials(), &port);
  builder.RegisterService(&service);
  if (argc > 2) {
    builder.SetSyncServerOption(grpc::ServerBuilder::SyncServerOption::NUM_CQS, std::atoi(argv[2]));
  }
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  if (!server) {
    std::fprintf(stderr, "could not listen on %s\n", address.c_str());
    return 1;
  }
  std::printf("listening on %d\n", port);
  std::fflush(stdout);
  server->Wait();
  return 0;
}
