// The load client of `make bench-rpc` for what h2load cannot drive: the same grpc C++ client runs
// against every server, so the comparison is fair.
//
//   load_client stream HOST:PORT STREAMS SECONDS MESSAGES SIZE [CHANNELS]
//     Keeps STREAMS grpc.testing.TestService/StreamingOutputCall calls open at once over CHANNELS
//     connections (default 10), each asking for MESSAGES responses of SIZE zero bytes; a call that
//     ends is replaced until SECONDS pass. Prints "messages_per_second=R messages=N calls=C
//     errors=E" over the measured window (after a one-second warm-up), then waits (bounded) for
//     the calls still open.
//
//   load_client idle HOST:PORT CONNECTIONS
//     Opens CONNECTIONS connections (one channel each, no subchannel sharing), makes one UnaryCall
//     on each, prints "ready ok=N failed=F" and keeps them open until standard input closes.
//
// Every loop is bounded in count and time; the target must be a loopback address.
#include <sys/resource.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <grpcpp/grpcpp.h>

#include "grpc/testing/test.grpc.pb.h"

namespace {

using Clock = std::chrono::steady_clock;
using grpc::testing::TestService;

// Raises the descriptor limit to the hard limit (10,000 connections need more than 1,024).
void RaiseDescriptorLimit() {
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) == 0 && limit.rlim_cur < limit.rlim_max) {
    limit.rlim_cur = limit.rlim_max;
    setrlimit(RLIMIT_NOFILE, &limit);
  }
}

std::shared_ptr<grpc::Channel> NewChannel(const std::string& target, int index) {
  grpc::ChannelArguments args;
  // A channel of its own per index: no sharing of connections between channels.
  args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
  args.SetInt("capstan.bench.channel", index);
  args.SetInt(GRPC_ARG_MAX_RECEIVE_MESSAGE_LENGTH, 16 * 1024 * 1024);
  return grpc::CreateCustomChannel(target, grpc::InsecureChannelCredentials(), args);
}

// ---- stream mode ----

struct StreamLoad {
  std::vector<std::unique_ptr<TestService::Stub>> stubs;
  grpc::testing::StreamingOutputCallRequest request;
  Clock::time_point stopStarting;
  std::atomic<long> messages{0};
  std::atomic<long> calls{0};
  std::atomic<long> errors{0};
  std::atomic<long> open{0};
  std::atomic<long> started{0};
  std::mutex mutex;
  std::condition_variable allDone;
};

class StreamReader final : public grpc::ClientReadReactor<grpc::testing::StreamingOutputCallResponse> {
 public:
  StreamReader(StreamLoad* load, TestService::Stub* stub) : load_(load), stub_(stub) {
    load_->open.fetch_add(1);
    load_->started.fetch_add(1);
    stub_->async()->StreamingOutputCall(&context_, &load_->request, this);
    StartRead(&response_);
    StartCall();
  }

  void OnReadDone(bool ok) override {
    if (!ok) return;  // OnDone follows.
    load_->messages.fetch_add(1, std::memory_order_relaxed);
    StartRead(&response_);
  }

  void OnDone(const grpc::Status& status) override {
    if (status.ok()) {
      load_->calls.fetch_add(1, std::memory_order_relaxed);
    } else {
      if (load_->errors.fetch_add(1) < 3) {
        std::fprintf(stderr, "call failed: %d %s\n", status.error_code(), status.error_message().c_str());
      }
    }
    StreamLoad* load = load_;
    TestService::Stub* stub = stub_;
    // Bounded: new calls only until the end of the run, and only while calls succeed.
    bool again = Clock::now() < load->stopStarting && load->errors.load() < 1000;
    delete this;
    if (again) new StreamReader(load, stub);
    if (load->open.fetch_sub(1) == 1) {
      std::lock_guard<std::mutex> lock(load->mutex);
      load->allDone.notify_all();
    }
  }

 private:
  StreamLoad* load_;
  TestService::Stub* stub_;
  grpc::ClientContext context_;
  grpc::testing::StreamingOutputCallResponse response_;
};

int RunStream(const std::string& target, int streams, int seconds, int messages, int size, int channels) {
  StreamLoad load;
  for (int i = 0; i < channels; ++i) load.stubs.push_back(TestService::NewStub(NewChannel(target, i)));
  load.request.set_response_type(grpc::testing::COMPRESSABLE);
  for (int i = 0; i < messages; ++i) load.request.add_response_parameters()->set_size(size);
  auto start = Clock::now();
  load.stopStarting = start + std::chrono::seconds(seconds);
  for (int i = 0; i < streams; ++i) new StreamReader(&load, load.stubs[i % channels].get());
  std::this_thread::sleep_for(std::chrono::seconds(1));
  long before = load.messages.load();
  auto windowStart = Clock::now();
  std::this_thread::sleep_until(load.stopStarting);
  long after = load.messages.load();
  double window = std::chrono::duration<double>(Clock::now() - windowStart).count();
  {
    std::unique_lock<std::mutex> lock(load.mutex);
    load.allDone.wait_for(lock, std::chrono::seconds(30), [&] { return load.open.load() == 0; });
  }
  std::printf("messages_per_second=%.0f messages=%ld calls=%ld errors=%ld open_at_end=%ld\n",
              (after - before) / window, after - before, load.calls.load(), load.errors.load(), load.open.load());
  std::fflush(stdout);
  if (load.open.load() != 0) std::_Exit(1);  // calls still open after 30 s: do not wait for them
  return load.errors.load() == 0 ? 0 : 1;
}

// ---- idle mode ----

int RunIdle(const std::string& target, int connections) {
  std::vector<std::unique_ptr<TestService::Stub>> stubs;
  stubs.reserve(connections);
  std::atomic<int> ok{0};
  std::atomic<int> failed{0};
  std::mutex mutex;
  std::condition_variable changed;
  int inFlight = 0;
  const int maxInFlight = 200;
  grpc::testing::SimpleRequest request;
  request.set_response_size(64);
  struct Call {
    grpc::ClientContext context;
    grpc::testing::SimpleResponse response;
  };
  std::vector<std::unique_ptr<Call>> calls(connections);
  auto deadline = Clock::now() + std::chrono::seconds(300);
  for (int i = 0; i < connections; ++i) {
    stubs.push_back(TestService::NewStub(NewChannel(target, i)));
    {
      std::unique_lock<std::mutex> lock(mutex);
      if (!changed.wait_until(lock, deadline, [&] { return inFlight < maxInFlight; })) break;
      ++inFlight;
    }
    calls[i] = std::make_unique<Call>();
    calls[i]->context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(60));
    stubs[i]->async()->UnaryCall(&calls[i]->context, &request, &calls[i]->response, [&](grpc::Status status) {
      (status.ok() ? ok : failed).fetch_add(1);
      std::lock_guard<std::mutex> lock(mutex);
      --inFlight;
      changed.notify_all();
    });
  }
  {
    std::unique_lock<std::mutex> lock(mutex);
    changed.wait_until(lock, deadline, [&] { return inFlight == 0; });
  }
  std::printf("ready ok=%d failed=%d\n", ok.load(), failed.load());
  std::fflush(stdout);
  // Hold the connections until told to let go (bounded: at most ten minutes).
  static std::atomic<bool> released{false};
  std::thread waiter([] {
    while (std::getchar() != EOF) {
    }
    released.store(true);
  });
  waiter.detach();
  auto holdUntil = Clock::now() + std::chrono::minutes(10);
  while (Clock::now() < holdUntil && !released.load()) {
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  std::_Exit(failed.load() == 0 ? 0 : 1);
}

}  // namespace

int main(int argc, char** argv) {
  RaiseDescriptorLimit();
  std::string mode = argc > 1 ? argv[1] : "";
  if (mode == "stream" && argc >= 7) {
    int channels = argc > 7 ? std::atoi(argv[7]) : 10;
    return RunStream(argv[2], std::atoi(argv[3]), std::atoi(argv[4]), std::atoi(argv[5]), std::atoi(argv[6]),
                     channels > 0 ? channels : 1);
  }
  if (mode == "idle" && argc >= 4) {
    return RunIdle(argv[2], std::atoi(argv[3]));
  }
  std::fprintf(stderr,
               "usage: %s stream HOST:PORT STREAMS SECONDS MESSAGES SIZE [CHANNELS]\n"
               "       %s idle HOST:PORT CONNECTIONS\n",
               argv[0], argv[0]);
  return 2;
}
