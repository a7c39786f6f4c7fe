/// Polls `condition` every 2 ms until it holds or `timeout` has passed; returns whether it held.
/// For conditions a test asserts on (`#expect(await eventually { … })`): the bound keeps a broken
/// expectation from hanging the suite.
public func eventually(timeout: Duration = .seconds(10), _ condition: () async -> Bool) async -> Bool {
    let deadline = ContinuousClock.now.advanced(by: timeout)
    while ContinuousClock.now < deadline {
        if await condition() { return true }
        try? await Task.sleep(for: .milliseconds(2))
    }
    return await condition()
}
