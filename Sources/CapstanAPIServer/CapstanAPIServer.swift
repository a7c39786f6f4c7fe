/// # CapstanAPIServer
///
/// The API server core (DESIGN.md, "API server"): every registry of API.md over a `Store`.
///
/// - **Registries** (`Registry/`): one generic `Registry<S>` over a per-kind `KindStrategy`
///   (`Strategies/`): names, methods, what Update may change. Validation and defaults come from
///   CapstanAPI, shared with clients. Objects are stored as their protobuf encoding under
///   `/registry/<resource>/<namespace>/<name>` (cluster-scoped: `/registry/minions/<name>`), with
///   `metadata.resource_version` left out: it is the store revision, spliced into the bytes on the
///   way out (`Encoding/ProtoBytes.swift`). Writes are compare-and-swap on the store revision.
///   Services keep one service per (port, protocol) with claim keys (`ServicePortClaims`);
///   Bindings bind a pod with a compare-and-swap on the pod.
/// - **Watch cache** (`WatchCache/`): per kind, the encoded objects plus the fields selectors
///   need, and a ring of recent events, fed by one store watch (`CacheFeed`). Get, List and
///   Watch are answered from it, as bytes assembled without decoding; a List's later page shows
///   the first page's revision from today's objects with the changes since undone from the ring,
///   and comes from the store only once the ring no longer holds them. Scans take the cache's
///   lock for 2,048 keys at a time and yield the event loop between steps, all at the scan's
///   first revision; a watch's initial events are scanned so, a page at a time, as the watcher
///   sends them. The ring and the watchers' shared log are bounded in bytes as well as in
///   events. Every event is encoded once and shared by its watchers; each watcher has a bounded
///   queue and is dropped with RESOURCE_EXHAUSTED when it falls behind. Reads wait until the cache has every write
///   the server acknowledged (`CacheProgress`), so a client reads its own writes; a read that
///   carries a revision (`ReadAfter` metadata, sent by `CapstanClient`) also waits for that one,
///   so a client that wrote through another API server of the cluster reads its writes too.
/// - **Errors** (`Errors/`): `RegistryError`, and `ErrorTable.swift`, the one mapping to gRPC
///   status codes (API.md's error table), with `google.rpc.BadRequest` details for
///   INVALID_ARGUMENT.
/// - **Services** (`Services/`): the routes of every API.md service over the registries.
