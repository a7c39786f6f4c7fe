"""A grpcio client running gRPC's interop test cases against a server (Capstan's, in our tests).

usage: interop_client.py --server_host H --server_port N --test_case NAME|all
Prints one line per case and exits non-zero if any case fails. Cases follow gRPC's
doc/interop-test-descriptions.md.
"""
import argparse
import sys

import grpc

import stubs

empty_pb2, messages_pb2, test_pb2_grpc = stubs.load()

SPECIAL_MESSAGE = "\t\ntest with whitespace\r\nand Unicode BMP \u263a and non-BMP \U0001f608\t\n"
INITIAL_VALUE = "test_initial_metadata_value"
TRAILING_VALUE = b"\x0a\x0b\x0a\x0b\x0a\x0b"


class Failure(Exception):
    pass


def check(condition, what):
    if not condition:
        raise Failure(what)


def payload(size):
    return messages_pb2.Payload(type=messages_pb2.COMPRESSABLE, body=b"\0" * size)


def expect_status(error, code, message=None):
    check(isinstance(error, grpc.RpcError), "expected an RPC error, got %r" % (error,))
    check(error.code() == code, "expected %s, got %s: %s" % (code, error.code(), error.details()))
    if message is not None:
        check(error.details() == message, "expected message %r, got %r" % (message, error.details()))


def empty_unary(stub, channel):
    response = stub.EmptyCall(empty_pb2.Empty())
    check(response == empty_pb2.Empty(), "response is not empty")


def large_unary(stub, channel):
    response = stub.UnaryCall(messages_pb2.SimpleRequest(response_size=314159, payload=payload(271828)))
    check(len(response.payload.body) == 314159, "payload size %d" % len(response.payload.body))
    check(response.payload.body == b"\0" * 314159, "payload is not zeros")


def client_streaming(stub, channel):
    sizes = [27182, 8, 1828, 45904]
    response = stub.StreamingInputCall(iter(messages_pb2.StreamingInputCallRequest(payload=payload(s)) for s in sizes))
    check(response.aggregated_payload_size == 74922, "aggregated size %d" % response.aggregated_payload_size)


def server_streaming(stub, channel):
    sizes = [31415, 9, 2653, 58979]
    request = messages_pb2.StreamingOutputCallRequest(
        response_parameters=[messages_pb2.ResponseParameters(size=s) for s in sizes])
    got = [len(r.payload.body) for r in stub.StreamingOutputCall(request)]
    check(got == sizes, "response sizes %r" % got)


def ping_pong(stub, channel):
    request_sizes = [27182, 8, 1828, 45904]
    response_sizes = [31415, 9, 2653, 58979]
    import queue
    requests = queue.Queue()

    def request_iterator():
        while True:
            item = requests.get()
            if item is None:
                return
            yield item

    responses = stub.FullDuplexCall(request_iterator())
    for request_size, response_size in zip(request_sizes, response_sizes):
        requests.put(messages_pb2.StreamingOutputCallRequest(
            response_parameters=[messages_pb2.ResponseParameters(size=response_size)],
            payload=payload(request_size)))
        response = next(responses)
        check(len(response.payload.body) == response_size, "response size %d" % len(response.payload.body))
    requests.put(None)
    check(next(responses, None) is None, "a response after the last")


def empty_stream(stub, channel):
    responses = list(stub.FullDuplexCall(iter(())))
    check(responses == [], "%d responses to an empty stream" % len(responses))


def cancel_after_begin(stub, channel):
    import threading
    gate = threading.Event()

    def never():
        gate.wait(10)
        return
        yield

    future = stub.StreamingInputCall.future(never())
    future.cancel()
    gate.set()
    check(future.cancelled(), "call was not cancelled")


def cancel_after_first_response(stub, channel):
    import queue
    requests = queue.Queue()

    def request_iterator():
        while True:
            item = requests.get()
            if item is None:
                return
            yield item

    responses = stub.FullDuplexCall(request_iterator())
    requests.put(messages_pb2.StreamingOutputCallRequest(
        response_parameters=[messages_pb2.ResponseParameters(size=31415)], payload=payload(27182)))
    first = next(responses)
    check(len(first.payload.body) == 31415, "first response size %d" % len(first.payload.body))
    responses.cancel()
    requests.put(None)
    try:
        next(responses)
        raise Failure("a response after cancel")
    except grpc.RpcError as error:
        expect_status(error, grpc.StatusCode.CANCELLED)


def timeout_on_sleeping_server(stub, channel):
    import threading
    done = threading.Event()

    def requests():
        # One request, then keep the stream open (the server sleeps waiting for more).
        yield messages_pb2.StreamingOutputCallRequest(payload=payload(27182))
        done.wait(10)

    try:
        list(stub.FullDuplexCall(requests(), timeout=0.001))
        raise Failure("no DEADLINE_EXCEEDED")
    except grpc.RpcError as error:
        expect_status(error, grpc.StatusCode.DEADLINE_EXCEEDED)
    finally:
        done.set()


def _status_cases(stub, message):
    status = messages_pb2.EchoStatus(code=2, message=message)
    try:
        stub.UnaryCall(messages_pb2.SimpleRequest(response_status=status))
        raise Failure("unary call did not fail")
    except grpc.RpcError as error:
        expect_status(error, grpc.StatusCode.UNKNOWN, message)
    try:
        list(stub.FullDuplexCall(iter([messages_pb2.StreamingOutputCallRequest(response_status=status)])))
        raise Failure("full duplex call did not fail")
    except grpc.RpcError as error:
        expect_status(error, grpc.StatusCode.UNKNOWN, message)


def status_code_and_message(stub, channel):
    _status_cases(stub, "test status message")


def special_status_message(stub, channel):
    status = messages_pb2.EchoStatus(code=2, message=SPECIAL_MESSAGE)
    try:
        stub.UnaryCall(messages_pb2.SimpleRequest(response_status=status))
        raise Failure("unary call did not fail")
    except grpc.RpcError as error:
        expect_status(error, grpc.StatusCode.UNKNOWN, SPECIAL_MESSAGE)


def unimplemented_method(stub, channel):
    try:
        stub.UnimplementedCall(empty_pb2.Empty())
        raise Failure("call succeeded")
    except grpc.RpcError as error:
        expect_status(error, grpc.StatusCode.UNIMPLEMENTED)


def unimplemented_service(stub, channel):
    other = test_pb2_grpc.UnimplementedServiceStub(channel)
    try:
        other.UnimplementedCall(empty_pb2.Empty())
        raise Failure("call succeeded")
    except grpc.RpcError as error:
        expect_status(error, grpc.StatusCode.UNIMPLEMENTED)


def custom_metadata(stub, channel):
    metadata = (("x-grpc-test-echo-initial", INITIAL_VALUE), ("x-grpc-test-echo-trailing-bin", TRAILING_VALUE))

    def check_echo(initial, trailing):
        initial, trailing = dict(initial), dict(trailing)
        check(initial.get("x-grpc-test-echo-initial") == INITIAL_VALUE, "initial metadata %r" % initial)
        check(trailing.get("x-grpc-test-echo-trailing-bin") == TRAILING_VALUE, "trailing metadata %r" % trailing)

    _, call = stub.UnaryCall.with_call(
        messages_pb2.SimpleRequest(response_size=314159, payload=payload(271828)), metadata=metadata)
    check_echo(call.initial_metadata(), call.trailing_metadata())
    responses = stub.FullDuplexCall(iter([messages_pb2.StreamingOutputCallRequest(
        response_parameters=[messages_pb2.ResponseParameters(size=314159)], payload=payload(271828))]),
        metadata=metadata)
    sizes = [len(r.payload.body) for r in responses]
    check(sizes == [314159], "response sizes %r" % sizes)
    check_echo(responses.initial_metadata(), responses.trailing_metadata())


CASES = [
    empty_unary, large_unary, client_streaming, server_streaming, ping_pong, empty_stream,
    cancel_after_begin, cancel_after_first_response, timeout_on_sleeping_server, status_code_and_message,
    special_status_message, unimplemented_method, unimplemented_service, custom_metadata,
]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--server_host", default="127.0.0.1")
    parser.add_argument("--server_port", type=int, required=True)
    parser.add_argument("--test_case", default="all")
    args = parser.parse_args()
    cases = CASES if args.test_case == "all" else [c for c in CASES if c.__name__ == args.test_case]
    if not cases:
        print("unknown test case %s" % args.test_case, file=sys.stderr)
        return 2
    failed = 0
    with grpc.insecure_channel("%s:%d" % (args.server_host, args.server_port)) as channel:
        grpc.channel_ready_future(channel).result(timeout=10)
        stub = test_pb2_grpc.TestServiceStub(channel)
        for case in cases:
            try:
                case(stub, channel)
                print("PASS %s" % case.__name__, flush=True)
            except Exception as error:  # a failed case must not stop the others
                failed += 1
                print("FAIL %s: %s" % (case.__name__, error), flush=True)
    print("%d passed, %d failed" % (len(cases) - failed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
