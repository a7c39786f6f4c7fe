"""Capstan's API from an independent client: Python grpcio with stubs generated from proto/.

Runs the core scenarios of API.md against a running API server and prints one line per scenario
(`PASS name` or `FAIL name: why`), then `N passed, M failed`; exits 1 if any failed.

    python scenarios.py --target 127.0.0.1:7443

Every scenario works in its own namespace (or with its own minion names), so they do not see each
other's objects and other objects in the store do not disturb them. They leave their objects
behind: run them once per fresh store (the Swift test `PythonClientTests` does, on SQLite and etcd).
"""
import argparse
import sys
import threading
import time
import traceback

import grpc

import stubs

S = None  # the generated modules, set in main()
TIMEOUT = 30  # seconds, for every unary call

ADDED, MODIFIED, DELETED, BOOKMARK = 1, 2, 3, 4
EVENT_NAMES = {0: "UNSPECIFIED", 1: "ADDED", 2: "MODIFIED", 3: "DELETED", 4: "BOOKMARK"}


class Failure(Exception):
    pass


def check(condition, message):
    if not condition:
        raise Failure(message)


def expect_error(code, call, *args, **kwargs):
    """Runs `call`, which must fail with `code`; returns the grpc.RpcError."""
    try:
        call(*args, timeout=TIMEOUT, **kwargs)
    except grpc.RpcError as error:
        check(error.code() == code, "expected %s, got %s: %s" % (code, error.code(), error.details()))
        return error
    raise Failure("expected %s, the call succeeded" % code)


def bad_request(error):
    """The field violations ({field: description}) of `grpc-status-details-bin`, checked to be a
    google.rpc.Status with the call's code and one google.rpc.BadRequest detail."""
    raw = [value for key, value in error.trailing_metadata() or () if key == "grpc-status-details-bin"]
    check(len(raw) == 1, "expected one grpc-status-details-bin trailer, got %d" % len(raw))
    status = S.status.Status()
    status.ParseFromString(raw[0])
    check(status.code == error.code().value[0], "details code %d, call code %s" % (status.code, error.code()))
    # grpcio's rpc_status.from_call refuses details whose message is not the call's.
    check(status.message == error.details(), "details message %r, call message %r" % (status.message, error.details()))
    check(len(status.details) == 1, "expected one detail, got %d" % len(status.details))
    detail = status.details[0]
    check(detail.type_url == "type.googleapis.com/google.rpc.BadRequest", "detail type %s" % detail.type_url)
    bad = S.error_details.BadRequest()
    check(detail.Unpack(bad), "detail does not unpack as google.rpc.BadRequest")
    return {violation.field: violation.description for violation in bad.field_violations}


def make_pod(name, namespace, labels=None, host="", ports=(80,)):
    pod = S.pod.Pod()
    pod.metadata.name = name
    pod.metadata.namespace = namespace
    pod.metadata.labels.update(labels or {})
    pod.spec.host = host
    container = pod.spec.containers.add(name="app", image="busybox")
    for port in ports:
        container.ports.add(container_port=port)
    return pod


def make_minion(name):
    minion = S.minion.Minion()
    minion.metadata.name = name
    minion.spec.address = "10.0.0.1"
    minion.spec.kubelet_port = 10250
    return minion


def make_service(name, namespace, port):
    service = S.service.Service()
    service.metadata.name = name
    service.metadata.namespace = namespace
    service.spec.port = port
    service.spec.selector["app"] = name
    return service


def make_controller(name, namespace):
    controller = S.replication_controller.ReplicationController()
    controller.metadata.name = name
    controller.metadata.namespace = namespace
    controller.spec.replicas = 2
    controller.spec.selector["app"] = name
    controller.spec.template.metadata.labels["app"] = name
    controller.spec.template.spec.containers.add(name="app", image="busybox")
    return controller


def make_endpoints(name, namespace):
    endpoints = S.endpoints.Endpoints()
    endpoints.metadata.name = name
    endpoints.metadata.namespace = namespace
    endpoints.endpoints.extend(["10.10.1.1:1909", "10.10.2.2:8834"])
    return endpoints


def get(name, namespace=""):
    return S.meta.GetRequest(name=name, namespace=namespace)


def delete(name, namespace="", precondition=0):
    return S.meta.DeleteRequest(name=name, namespace=namespace, precondition_resource_version=precondition)


def list_all(stub, namespace="", labels="", fields="", limit=0):
    """Every item over as many pages as it takes; returns (names, pages)."""
    names, pages, token = [], 0, ""
    while True:
        response = stub.List(S.meta.ListRequest(
            namespace=namespace, label_selector=labels, field_selector=fields, limit=limit, continue_token=token),
            timeout=TIMEOUT)
        pages += 1
        check(limit == 0 or len(response.items) <= limit, "page of %d items over limit %d" % (len(response.items), limit))
        names += [item.metadata.name for item in response.items]
        token = response.continue_token
        if not token:
            return names, pages
        check(pages < 1000, "list never ended")


class Watch:
    """Reads a watch stream on a thread; `take(n)` waits (bounded) for the next n events."""

    def __init__(self, call):
        self.call = call
        self.events = []
        self.error = None
        self.done = False
        self.cond = threading.Condition()
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self):
        try:
            for event in self.call:
                with self.cond:
                    self.events.append(event)
                    self.cond.notify_all()
        except grpc.RpcError as error:
            if error.code() != grpc.StatusCode.CANCELLED:
                self.error = error
        with self.cond:
            self.done = True
            self.cond.notify_all()

    def take(self, count, skip_bookmarks=False, seconds=30):
        deadline = time.monotonic() + seconds
        taken = []
        with self.cond:
            while len(taken) < count:
                while not self.events and not self.done:
                    remaining = deadline - time.monotonic()
                    check(remaining > 0, "waited %d s for %d watch events, got %s" % (seconds, count, describe(taken)))
                    self.cond.wait(remaining)
                if not self.events:
                    raise Failure("the watch ended (%s) after %s" % (self.error, describe(taken)))
                event = self.events.pop(0)
                if not (skip_bookmarks and event.type == BOOKMARK):
                    taken.append(event)
        return taken

    def cancel(self):
        self.call.cancel()
        self.thread.join(10)


def describe(events):
    return ["%s %s@%d" % (EVENT_NAMES.get(e.type, e.type), e.object.metadata.name, e.object.metadata.resource_version)
            for e in events]


# --- scenarios -------------------------------------------------------------------------------

def crud(kind_stub, make, update, namespace, kind):
    """Create, Get, List (pages of one, label and field selectors), Update (if `update`), Delete,
    then Get is NOT_FOUND."""
    def labelled(name):
        obj = make(name)
        obj.metadata.labels["pick"] = name
        return obj
    created = kind_stub.Create(labelled("obj-a"), timeout=TIMEOUT)
    check(created.metadata.uid and created.metadata.resource_version > 0, "server-set fields missing: %s" % created.metadata)
    check(created.metadata.HasField("creation_timestamp"), "no creation_timestamp")
    expected_namespace = namespace
    check(created.metadata.namespace == expected_namespace, "namespace %r" % created.metadata.namespace)
    fetched = kind_stub.Get(get("obj-a", namespace), timeout=TIMEOUT)
    check(fetched == created, "Get differs from Create's answer:\n%s\n%s" % (fetched, created))
    kind_stub.Create(labelled("obj-b"), timeout=TIMEOUT)
    names, pages = list_all(kind_stub, namespace=namespace, limit=1)
    check(names == ["obj-a", "obj-b"] and pages == 2, "List by pages of 1 gave %s in %d pages" % (names, pages))
    for labels, fields, expected in [("pick=obj-b", "", ["obj-b"]), ("pick,pick!=obj-b", "", ["obj-a"]),
                                     ("", "metadata.name=obj-a", ["obj-a"]), ("pick", "metadata.name!=obj-a", ["obj-b"])]:
        got, _ = list_all(kind_stub, namespace=namespace, labels=labels, fields=fields)
        check(got == expected, "labels %r fields %r gave %s" % (labels, fields, got))
    error = expect_error(grpc.StatusCode.ALREADY_EXISTS, kind_stub.Create, make("obj-a"))
    check(kind in error.details() and "obj-a" in error.details(), "ALREADY_EXISTS message: %s" % error.details())
    current = created
    if update is not None:
        changed = type(created)()
        changed.CopyFrom(created)
        update(changed)
        updated = kind_stub.Update(changed, timeout=TIMEOUT)
        check(updated.metadata.resource_version > created.metadata.resource_version, "Update kept the resource version")
        check(updated.metadata.uid == created.metadata.uid, "Update changed the uid")
        check(kind_stub.Get(get("obj-a", namespace), timeout=TIMEOUT) == updated, "Get after Update differs")
        # The old resource version is stale now.
        stale = expect_error(grpc.StatusCode.ABORTED, kind_stub.Update, changed)
        check(str(created.metadata.resource_version) in stale.details()
              and str(updated.metadata.resource_version) in stale.details(),
              "ABORTED message names neither revision: %s" % stale.details())
        current = updated
    expect_error(grpc.StatusCode.ABORTED, kind_stub.Delete, delete("obj-a", namespace, precondition=1))
    deleted = kind_stub.Delete(delete("obj-a", namespace), timeout=TIMEOUT)
    check(deleted.metadata.name == "obj-a", "Delete returned %s" % deleted.metadata.name)
    check(deleted.metadata.resource_version > current.metadata.resource_version,
          "Delete's answer carries revision %d, not the delete's" % deleted.metadata.resource_version)
    missing = expect_error(grpc.StatusCode.NOT_FOUND, kind_stub.Get, get("obj-a", namespace))
    path = "%s/obj-a" % namespace if namespace else "obj-a"
    check(kind in missing.details() and path in missing.details(), "NOT_FOUND message: %s" % missing.details())
    expect_error(grpc.StatusCode.NOT_FOUND, kind_stub.Delete, delete("obj-a", namespace))
    kind_stub.Delete(delete("obj-b", namespace), timeout=TIMEOUT)


def scenario_minions_crud(channel):
    minions = S.minion_grpc.MinionsStub(channel)
    # Minions are cluster-scoped: the names are unique to this scenario.
    created = minions.Create(make_minion("crud-m1"), timeout=TIMEOUT)
    check(created.metadata.namespace == "", "a minion got namespace %r" % created.metadata.namespace)
    check(minions.Get(get("crud-m1"), timeout=TIMEOUT) == created, "Get differs from Create's answer")
    check("crud-m1" in list_all(minions)[0], "List lacks the minion")
    # Labels tell this scenario's minions from the others' (minions have no namespace).
    second = make_minion("crud-m2")
    second.spec.unschedulable = True
    second.metadata.labels["scenario"] = "minions-crud"
    minions.Create(second, timeout=TIMEOUT)
    first = minions.Get(get("crud-m1"), timeout=TIMEOUT)
    check(list_all(minions, labels="scenario=minions-crud")[0] == ["crud-m2"], "label selector on minions")
    names, pages = list_all(minions, fields="metadata.name!=nothing", labels="!nothing", limit=1)
    check({"crud-m1", "crud-m2"} <= set(names) and pages == len(names), "minions by pages of 1: %s in %d" % (names, pages))
    check(list_all(minions, fields="spec.unschedulable=true")[0] == ["crud-m2"], "spec.unschedulable=true")
    check("crud-m2" not in list_all(minions, fields="spec.unschedulable=false")[0], "spec.unschedulable=false")
    minions.Delete(delete("crud-m2"), timeout=TIMEOUT)
    check(first == created, "Get differs from Create's answer")
    expect_error(grpc.StatusCode.ALREADY_EXISTS, minions.Create, make_minion("crud-m1"))
    report = S.minion.MinionStatusReport(name="crud-m1")
    report.status.machine_info.hostname = "crud-m1.local"
    reported = minions.ReportStatus(report, timeout=TIMEOUT)
    check(reported.status.machine_info.hostname == "crud-m1.local", "ReportStatus did not store the status")
    check(reported.spec == created.spec, "ReportStatus changed the spec")
    deleted = minions.Delete(delete("crud-m1"), timeout=TIMEOUT)
    check(deleted.metadata.resource_version > reported.metadata.resource_version, "Delete's revision")
    error = expect_error(grpc.StatusCode.NOT_FOUND, minions.Get, get("crud-m1"))
    check("minion" in error.details() and "crud-m1" in error.details(), "NOT_FOUND message: %s" % error.details())


def scenario_minions_update_unimplemented(channel):
    update = channel.unary_unary("/capstan.v1.Minions/Update",
                                 request_serializer=S.minion.Minion.SerializeToString,
                                 response_deserializer=S.minion.Minion.FromString)
    error = expect_error(grpc.StatusCode.UNIMPLEMENTED, update, make_minion("unimpl-m1"))
    check("delete and re-create" in error.details(), "UNIMPLEMENTED gives no reason: %s" % error.details())


def scenario_pods_crud(channel):
    def update(pod):
        pod.metadata.labels["tier"] = "web"
        pod.spec.containers[0].image = "busybox:2"
    crud(S.pod_grpc.PodsStub(channel), lambda n: make_pod(n, "crud-pods"), update, "crud-pods", "pod")


def scenario_pods_default_namespace_and_status(channel):
    pods = S.pod_grpc.PodsStub(channel)
    created = pods.Create(make_pod("defaulted", ""), timeout=TIMEOUT)
    check(created.metadata.namespace == "default", "empty namespace became %r" % created.metadata.namespace)
    check(created.status.phase == S.pod.POD_PHASE_PENDING, "phase defaulted to %d" % created.status.phase)
    check(created.spec.restart_policy == S.pod.RESTART_POLICY_ALWAYS, "restart policy %d" % created.spec.restart_policy)
    with_status = S.pod.Pod()
    with_status.CopyFrom(created)
    with_status.status.phase = S.pod.POD_PHASE_RUNNING
    with_status.status.pod_ip = "10.1.0.5"
    with_status.metadata.labels["ignored"] = "yes"
    updated = pods.UpdateStatus(with_status, timeout=TIMEOUT)
    check(updated.status.phase == S.pod.POD_PHASE_RUNNING and updated.status.pod_ip == "10.1.0.5", "status not stored")
    check("ignored" not in updated.metadata.labels, "UpdateStatus changed labels")
    moved = S.pod.Pod()
    moved.CopyFrom(updated)
    moved.spec.host = "elsewhere"
    error = expect_error(grpc.StatusCode.INVALID_ARGUMENT, pods.Update, moved)
    check("spec.host" in bad_request(error), "no spec.host violation")
    check("Bindings/Create" in error.details(), "message does not say which verb may: %s" % error.details())
    pods.Delete(delete("defaulted"), timeout=TIMEOUT)


def scenario_services_crud(channel):
    def update(service):
        service.spec.selector["app"] = "other"
    crud(S.service_grpc.ServicesStub(channel), lambda n: make_service(n, "crud-services", 30000 + len(n) + ord(n[-1])),
         update, "crud-services", "service")


def scenario_replication_controllers_crud(channel):
    def update(controller):
        controller.spec.replicas = 5
    crud(S.replication_controller_grpc.ReplicationControllersStub(channel),
         lambda n: make_controller(n, "crud-rcs"), update, "crud-rcs", "replication controller")


def scenario_endpoints_crud(channel):
    def update(endpoints):
        endpoints.endpoints.append("10.10.3.3:80")
    crud(S.endpoints_grpc.EndpointsRegistryStub(channel), lambda n: make_endpoints(n, "crud-endpoints"), update,
         "crud-endpoints", "endpoints")


def scenario_list_paging_and_selectors(channel):
    pods = S.pod_grpc.PodsStub(channel)
    ns = "paging"
    minions = S.minion_grpc.MinionsStub(channel)
    minions.Create(make_minion("paging-m1"), timeout=TIMEOUT)
    for i in range(7):
        labels = {"tier": ["web", "db", "cache"][i % 3]}
        if i % 2 == 0:
            labels["canary"] = "true"
        pods.Create(make_pod("p%d" % i, ns, labels, host="paging-m1" if i < 2 else ""), timeout=TIMEOUT)
    everything = ["p%d" % i for i in range(7)]
    names, pages = list_all(pods, namespace=ns, limit=3)
    check(names == everything, "paged list gave %s" % names)
    check(pages == 3, "7 items at limit 3 took %d pages" % pages)
    first = pods.List(S.meta.ListRequest(namespace=ns, limit=3), timeout=TIMEOUT)
    check(first.continue_token and first.resource_version > 0, "first page lacks continue_token or resource_version")
    # The continuation keeps serving the first page's snapshot despite a later create.
    pods.Create(make_pod("p7", ns), timeout=TIMEOUT)
    rest = pods.List(S.meta.ListRequest(namespace=ns, limit=100, continue_token=first.continue_token), timeout=TIMEOUT)
    check([p.metadata.name for p in rest.items] == everything[3:], "continuation gave %s" % [p.metadata.name for p in rest.items])
    check(not rest.continue_token, "last page has a continue_token")
    check(rest.resource_version == first.resource_version, "continuation at %d, first page at %d"
          % (rest.resource_version, first.resource_version))
    cases = [
        ("tier=web", "", ["p0", "p3", "p6"]),
        ("tier in (db,cache)", "", ["p1", "p2", "p4", "p5"]),
        ("tier!=web,canary", "", ["p2", "p4"]),
        ("!canary", "", ["p1", "p3", "p5", "p7"]),
        ("", "metadata.name=p4", ["p4"]),
        ("", "spec.host=paging-m1", ["p0", "p1"]),
        ("", "spec.host=", ["p2", "p3", "p4", "p5", "p6", "p7"]),
        ("canary", "spec.host!=,status.phase=Pending", ["p0"]),
        ("", "status.phase=RUNNING", []),
    ]
    for labels, fields, expected in cases:
        got, _ = list_all(pods, namespace=ns, labels=labels, fields=fields, limit=2)
        check(got == expected, "labels %r fields %r gave %s, expected %s" % (labels, fields, got, expected))
    # An empty namespace lists all namespaces.
    check("p0" in list_all(pods, labels="tier=web")[0], "all-namespace list lacks p0")
    error = expect_error(grpc.StatusCode.INVALID_ARGUMENT, pods.List, S.meta.ListRequest(label_selector="tier in (web"))
    check("label_selector" in bad_request(error), "no label_selector violation")
    error = expect_error(grpc.StatusCode.INVALID_ARGUMENT, pods.List, S.meta.ListRequest(field_selector="spec.nothing=x"))
    check("field_selector" in bad_request(error), "no field_selector violation")
    error = expect_error(grpc.StatusCode.INVALID_ARGUMENT, pods.List, S.meta.ListRequest(continue_token="garbage"))
    check("continue_token" in bad_request(error), "no continue_token violation")


def scenario_watch_initial_events_and_changes(channel):
    pods = S.pod_grpc.PodsStub(channel)
    ns = "watch-initial"
    for i in range(3):
        pods.Create(make_pod("w%d" % i, ns, {"app": "a" if i < 2 else "b"}), timeout=TIMEOUT)
    watch = Watch(pods.Watch(S.meta.WatchRequest(namespace=ns, label_selector="app=a", send_initial_events=True)))
    try:
        initial = watch.take(3)
        check([(e.type, e.object.metadata.name) for e in initial[:2]] == [(ADDED, "w0"), (ADDED, "w1")]
              or [(e.type, e.object.metadata.name) for e in initial[:2]] == [(ADDED, "w1"), (ADDED, "w0")],
              "initial events %s" % describe(initial))
        bookmark = initial[2]
        check(bookmark.type == BOOKMARK and bookmark.object.metadata.resource_version
              >= max(e.object.metadata.resource_version for e in initial[:2]), "then %s" % describe([bookmark]))
        w3 = pods.Create(make_pod("w3", ns, {"app": "a"}), timeout=TIMEOUT)
        pods.Create(make_pod("w4", ns, {"app": "b"}), timeout=TIMEOUT)
        w0 = pods.Get(get("w0", ns), timeout=TIMEOUT)
        w0.metadata.labels["extra"] = "1"
        w0 = pods.Update(w0, timeout=TIMEOUT)
        w1 = pods.Get(get("w1", ns), timeout=TIMEOUT)
        w1.metadata.labels["app"] = "b"
        w1 = pods.Update(w1, timeout=TIMEOUT)
        gone = pods.Delete(delete("w3", ns), timeout=TIMEOUT)
        changes = watch.take(4, skip_bookmarks=True)
        got = [(e.type, e.object.metadata.name, e.object.metadata.resource_version) for e in changes]
        expected = [(ADDED, "w3", w3.metadata.resource_version), (MODIFIED, "w0", w0.metadata.resource_version),
                    (DELETED, "w1", w1.metadata.resource_version), (DELETED, "w3", gone.metadata.resource_version)]
        check(got == expected, "changes %s, expected %s" % (got, expected))
        check(changes[1].object == w0, "MODIFIED carries %s, not the stored pod" % changes[1].object)
    finally:
        watch.cancel()


def scenario_watch_resume_from_resource_version(channel):
    pods = S.pod_grpc.PodsStub(channel)
    ns = "watch-resume"
    start = pods.Create(make_pod("r0", ns), timeout=TIMEOUT).metadata.resource_version
    writes = []
    for i in range(1, 4):
        writes.append((ADDED, "r%d" % i, pods.Create(make_pod("r%d" % i, ns), timeout=TIMEOUT).metadata.resource_version))
    writes.append((DELETED, "r0", pods.Delete(delete("r0", ns), timeout=TIMEOUT).metadata.resource_version))
    r2 = pods.Get(get("r2", ns), timeout=TIMEOUT)
    r2.status.phase = S.pod.POD_PHASE_RUNNING
    writes.append((MODIFIED, "r2", pods.UpdateStatus(r2, timeout=TIMEOUT).metadata.resource_version))
    watch = Watch(pods.Watch(S.meta.WatchRequest(namespace=ns, resource_version=start, allow_bookmarks=True)))
    try:
        got = [(e.type, e.object.metadata.name, e.object.metadata.resource_version)
               for e in watch.take(len(writes), skip_bookmarks=True)]
        check(got == writes, "resumed watch gave %s, expected %s" % (got, writes))
    finally:
        watch.cancel()
    # Resuming from the middle gives only what followed.
    watch = Watch(pods.Watch(S.meta.WatchRequest(namespace=ns, resource_version=writes[2][2])))
    try:
        got = [(e.type, e.object.metadata.name, e.object.metadata.resource_version)
               for e in watch.take(2, skip_bookmarks=True)]
        check(got == writes[3:], "watch from the middle gave %s" % got)
    finally:
        watch.cancel()


def scenario_validation_details(channel):
    pods = S.pod_grpc.PodsStub(channel)
    bad = make_pod("Not_A_Name", "validation", ports=(80, 70000))
    bad.spec.containers.add(name="app", image="busybox")
    error = expect_error(grpc.StatusCode.INVALID_ARGUMENT, pods.Create, bad)
    violations = bad_request(error)
    expected = {"metadata.name", "spec.containers[0].ports[1].container_port", "spec.containers[1].name"}
    check(set(violations) == expected, "field violations %s, expected %s" % (sorted(violations), sorted(expected)))
    for field in expected:
        check(field in error.details(), "message does not name %s: %s" % (field, error.details()))
    empty = S.pod.Pod()
    empty.metadata.name = "empty"
    empty.metadata.namespace = "validation"
    check("spec.containers" in bad_request(expect_error(grpc.StatusCode.INVALID_ARGUMENT, pods.Create, empty)),
          "a pod without containers is not flagged at spec.containers")
    service = make_service("badport", "validation", 0)
    error = expect_error(grpc.StatusCode.INVALID_ARGUMENT, S.service_grpc.ServicesStub(channel).Create, service)
    check("spec.port" in bad_request(error), "no spec.port violation")
    minion = make_minion("bad-minion")
    minion.spec.kubelet_port = 70000
    error = expect_error(grpc.StatusCode.INVALID_ARGUMENT, S.minion_grpc.MinionsStub(channel).Create, minion)
    check(set(bad_request(error)) == {"spec.kubelet_port"}, "minion violations %s" % sorted(bad_request(error)))
    endpoints = make_endpoints("bad", "validation")
    endpoints.endpoints.append("nowhere")
    error = expect_error(grpc.StatusCode.INVALID_ARGUMENT, S.endpoints_grpc.EndpointsRegistryStub(channel).Create, endpoints)
    check(set(bad_request(error)) == {"endpoints[2]"}, "endpoints violations %s" % sorted(bad_request(error)))
    # Valid protobuf that Capstan cannot keep as sent is refused, not silently changed: a NUL in
    # a string (its strings end there), and a message field that occurs twice (two encoded pods
    # one after the other, which protobuf merges).
    nul = make_pod("nul", "validation")
    nul.metadata.annotations["note"] = "before\0after"
    error = expect_error(grpc.StatusCode.INVALID_ARGUMENT, pods.Create, nul)
    check('metadata.annotations["note"].value' in error.details() and "NUL" in error.details(), "message: %s" % error.details())
    raw_create = channel.unary_unary(
        "/capstan.v1.Pods/Create", request_serializer=lambda raw: raw, response_deserializer=S.pod.Pod.FromString)
    second = S.pod.Pod()
    second.metadata.labels["merged"] = "yes"
    merged = make_pod("merged", "validation").SerializeToString() + second.SerializeToString()
    error = expect_error(grpc.StatusCode.INVALID_ARGUMENT, raw_create, merged)
    check("metadata" in error.details() and "more than once" in error.details(), "message: %s" % error.details())
    expect_error(grpc.StatusCode.NOT_FOUND, pods.Get, get("merged", "validation"))


def scenario_bindings(channel):
    pods = S.pod_grpc.PodsStub(channel)
    bindings = S.binding_grpc.BindingsStub(channel)
    minions = S.minion_grpc.MinionsStub(channel)
    ns = "bindings"
    minions.Create(make_minion("bind-m1"), timeout=TIMEOUT)
    minions.Create(make_minion("bind-m2"), timeout=TIMEOUT)
    created = pods.Create(make_pod("b1", ns), timeout=TIMEOUT)
    bound = bindings.Create(S.binding.Binding(namespace=ns, pod_name="b1", host="bind-m1"), timeout=TIMEOUT)
    check(bound.metadata.name == "b1" and bound.spec.host == "bind-m1", "Bindings/Create returned %s" % bound.spec)
    check(bound.metadata.resource_version > created.metadata.resource_version, "binding kept the revision")
    check(pods.Get(get("b1", ns), timeout=TIMEOUT).spec.host == "bind-m1", "the binding was not stored")
    error = expect_error(grpc.StatusCode.FAILED_PRECONDITION, bindings.Create,
                         S.binding.Binding(namespace=ns, pod_name="b1", host="bind-m2"))
    check("bind-m1" in error.details(), "FAILED_PRECONDITION does not name the current host: %s" % error.details())
    pods.Create(make_pod("b2", ns), timeout=TIMEOUT)
    error = expect_error(grpc.StatusCode.NOT_FOUND, bindings.Create,
                         S.binding.Binding(namespace=ns, pod_name="b2", host="no-such-minion"))
    check("no-such-minion" in error.details(), "NOT_FOUND does not name the minion: %s" % error.details())
    expect_error(grpc.StatusCode.NOT_FOUND, bindings.Create,
                 S.binding.Binding(namespace=ns, pod_name="no-such-pod", host="bind-m1"))
    check(pods.Get(get("b2", ns), timeout=TIMEOUT).spec.host == "", "a failed binding changed the pod")
    bound, _ = list_all(pods, namespace=ns, fields="spec.host=bind-m1")
    check(bound == ["b1"], "spec.host=bind-m1 lists %s" % bound)


def scenario_read_after(channel):
    """The capstan-read-after metadata: a revision this store reached is served, one past it is
    OUT_OF_RANGE with the store's revision in a trailer, a malformed one INVALID_ARGUMENT."""
    pods = S.pod_grpc.PodsStub(channel)
    ns = "read-after"
    created = pods.Create(make_pod("r1", ns), timeout=TIMEOUT)
    revision = created.metadata.resource_version
    got = pods.Get(get("r1", ns), timeout=TIMEOUT, metadata=(("capstan-read-after", str(revision)),))
    check(got == created, "Get after the pod's revision returned %s" % got.metadata)
    listed = pods.List(S.meta.ListRequest(namespace=ns), timeout=TIMEOUT,
                       metadata=(("capstan-read-after", str(revision)),))
    check([item.metadata.name for item in listed.items] == ["r1"], "List after the revision: %s" % listed.items)
    error = expect_error(grpc.StatusCode.OUT_OF_RANGE, pods.Get, get("r1", ns),
                         metadata=(("capstan-read-after", str(revision + 1000000)),))
    rejected = [value for key, value in error.trailing_metadata() or () if key == "capstan-read-after-rejected"]
    check(len(rejected) == 1 and int(rejected[0]) >= revision, "trailers: %s" % (error.trailing_metadata(),))
    expect_error(grpc.StatusCode.INVALID_ARGUMENT, pods.Get, get("r1", ns), metadata=(("capstan-read-after", "soon"),))


def scenario_service_port_clash(channel):
    services = S.service_grpc.ServicesStub(channel)
    services.Create(make_service("holder", "ports-a", 31001), timeout=TIMEOUT)
    error = expect_error(grpc.StatusCode.ALREADY_EXISTS, services.Create, make_service("second", "ports-b", 31001))
    check("ports-a/holder" in error.details() and "31001" in error.details(),
          "ALREADY_EXISTS does not name the holder: %s" % error.details())
    udp = make_service("udp", "ports-b", 31001)
    udp.spec.protocol = S.meta.PROTOCOL_UDP
    services.Create(udp, timeout=TIMEOUT)  # another protocol is another port
    services.Delete(delete("holder", "ports-a"), timeout=TIMEOUT)
    taken = services.Create(make_service("second", "ports-b", 31001), timeout=TIMEOUT)
    check(taken.spec.container_port == 31001, "container_port defaulted to %d" % taken.spec.container_port)


def scenario_health_check(channel):
    health = S.health_grpc.HealthStub(channel)
    serving = S.health.HealthCheckResponse.SERVING
    check(health.Check(S.health.HealthCheckRequest(), timeout=TIMEOUT).status == serving, "server not SERVING")
    # Each API service follows the store (SERVING while it answers).
    pods = health.Check(S.health.HealthCheckRequest(service="capstan.v1.Pods"), timeout=TIMEOUT)
    check(pods.status == serving, "capstan.v1.Pods not SERVING")
    # The server reports its overall status; a service it was not told about is NOT_FOUND.
    expect_error(grpc.StatusCode.NOT_FOUND, health.Check, S.health.HealthCheckRequest(service="no.such.Service"))
    call = health.Watch(S.health.HealthCheckRequest(), timeout=TIMEOUT)
    try:
        first = next(call)
        check(first.status == serving, "Watch started with %d" % first.status)
    finally:
        call.cancel()


def reflection(channel, version):
    module = getattr(S, "reflection_" + version)
    stub = getattr(S, "reflection_%s_grpc" % version).ServerReflectionStub(channel)
    requests = [module.ServerReflectionRequest(list_services=""),
                module.ServerReflectionRequest(file_containing_symbol="capstan.v1.Pods"),
                module.ServerReflectionRequest(file_containing_symbol="capstan.v1.Nothing")]
    responses = list(stub.ServerReflectionInfo(iter(requests), timeout=TIMEOUT))
    check(len(responses) == 3, "%d answers to 3 requests" % len(responses))
    listed = {service.name for service in responses[0].list_services_response.service}
    wanted = {"capstan.v1.Minions", "capstan.v1.Pods", "capstan.v1.Services", "capstan.v1.ReplicationControllers",
              "capstan.v1.EndpointsRegistry", "capstan.v1.Bindings", "grpc.health.v1.Health",
              "grpc.reflection.%s.ServerReflection" % version}
    check(wanted <= listed, "services listed: %s; missing %s" % (sorted(listed), sorted(wanted - listed)))
    from google.protobuf import descriptor_pb2
    files = {}
    for raw in responses[1].file_descriptor_response.file_descriptor_proto:
        proto = descriptor_pb2.FileDescriptorProto()
        proto.ParseFromString(raw)
        files[proto.name] = proto
    check("capstan/v1/pod.proto" in files, "file_containing_symbol gave %s" % sorted(files))
    service = [s for s in files["capstan/v1/pod.proto"].service if s.name == "Pods"]
    check(service, "pod.proto does not describe Pods")
    methods = {m.name for m in service[0].method}
    check(methods == {"Create", "Get", "List", "Update", "Delete", "Watch", "UpdateStatus"}, "Pods methods %s" % methods)
    check("capstan/v1/meta.proto" in files, "the answer lacks pod.proto's dependency meta.proto")
    check(responses[2].error_response.error_code == grpc.StatusCode.NOT_FOUND.value[0],
          "an unknown symbol gave %s" % responses[2])


def scenario_reflection_v1(channel):
    reflection(channel, "v1")


def scenario_reflection_v1alpha(channel):
    reflection(channel, "v1alpha")


SCENARIOS = [
    ("health_check", scenario_health_check),
    ("reflection_v1", scenario_reflection_v1),
    ("reflection_v1alpha", scenario_reflection_v1alpha),
    ("minions_crud", scenario_minions_crud),
    ("minions_update_unimplemented", scenario_minions_update_unimplemented),
    ("pods_crud", scenario_pods_crud),
    ("pods_default_namespace_and_status", scenario_pods_default_namespace_and_status),
    ("services_crud", scenario_services_crud),
    ("replication_controllers_crud", scenario_replication_controllers_crud),
    ("endpoints_crud", scenario_endpoints_crud),
    ("list_paging_and_selectors", scenario_list_paging_and_selectors),
    ("watch_initial_events_and_changes", scenario_watch_initial_events_and_changes),
    ("watch_resume_from_resource_version", scenario_watch_resume_from_resource_version),
    ("validation_details", scenario_validation_details),
    ("bindings", scenario_bindings),
    ("service_port_clash", scenario_service_port_clash),
    ("read_after", scenario_read_after),
]


def main():
    global S
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--target", required=True, help="HOST:PORT of a Capstan API server")
    parser.add_argument("--only", action="append", help="run only this scenario (repeatable)")
    args = parser.parse_args()
    S = stubs.load()
    channel = grpc.insecure_channel(args.target)
    grpc.channel_ready_future(channel).result(timeout=TIMEOUT)
    passed = failed = 0
    for name, scenario in SCENARIOS:
        if args.only and name not in args.only:
            continue
        try:
            scenario(channel)
            print("PASS %s" % name, flush=True)
            passed += 1
        except Failure as failure:
            print("FAIL %s: %s" % (name, failure), flush=True)
            failed += 1
        except Exception:
            print("FAIL %s: %s" % (name, traceback.format_exc().strip().replace("\n", "\n    ")), flush=True)
            failed += 1
    channel.close()
    print("%d passed, %d failed" % (passed, failed), flush=True)
    return 1 if failed or not passed else 0


if __name__ == "__main__":
    sys.exit(main())
