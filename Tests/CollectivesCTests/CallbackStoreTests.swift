#if canImport(Glibc)
import Glibc
#endif
import CCollectivesAPI
import Collectives
import CollectivesC
import CollectivesRendezvous
import CollectivesSystem
import CollectivesTestSupport
import Testing

/// `collCommInitWithStore` through the C ABI: the callbacks are C function pointers (closures
/// without captures, as a C program's functions are) over a store given as their context; ranks
/// are threads of this process, as a binding's ranks would be processes.
@Suite struct CallbackStoreTests {
    /// The context every callback gets: the store behind them, and a code `set` fails with.
    final class Context: @unchecked Sendable {
        let store = InMemoryStore()
        let setFailure: Int32
        init(setFailure: Int32 = 0) { self.setFailure = setFailure }
    }

    static func context(_ raw: UnsafeMutableRawPointer?) -> Context { Unmanaged<Context>.fromOpaque(raw!).takeUnretainedValue() }

    static func keys(_ keys: UnsafePointer<UnsafePointer<CChar>?>?, _ count: Int) -> [String] {
        (0..<count).map { String(cString: keys![$0]!) }
    }

    static func callbacks(_ context: Context) -> collStore_t {
        collStore_t(
            context: Unmanaged.passUnretained(context).toOpaque(),
            set: { raw, key, value, length in
                let context = CallbackStoreTests.context(raw)
                if context.setFailure != 0 { return context.setFailure }
                let bytes = Array(UnsafeRawBufferPointer(start: value, count: length))
                return (try? context.store.set(String(cString: key!), bytes)) == nil ? 2 : 0
            },
            get: { raw, key, value, length, seconds in
                do throws(RendezvousError) {
                    let bytes = try CallbackStoreTests.context(raw).store.get(String(cString: key!), deadline: .after(seconds: seconds))
                    let copy = malloc(Swift.max(1, bytes.count))!
                    bytes.withUnsafeBytes { copy.copyMemory(from: $0.baseAddress!, byteCount: bytes.count) }
                    value!.pointee = copy
                    length!.pointee = bytes.count
                    return 0
                } catch .timedOut {
                    return 1
                } catch {
                    return 2
                }
            },
            add: { raw, key, delta, result in
                guard let sum = try? CallbackStoreTests.context(raw).store.add(String(cString: key!), delta) else { return 2 }
                result!.pointee = sum
                return 0
            },
            wait: { raw, keys, count, seconds in
                do throws(RendezvousError) {
                    try CallbackStoreTests.context(raw).store.wait(CallbackStoreTests.keys(keys, count), deadline: .after(seconds: seconds))
                    return 0
                } catch .timedOut {
                    return 1
                } catch {
                    return 2
                }
            },
            check: { raw, keys, count, present in
                guard let found = try? CallbackStoreTests.context(raw).store.check(CallbackStoreTests.keys(keys, count)) else { return 2 }
                present!.pointee = found ? 1 : 0
                return 0
            })
    }

    @Test(arguments: [2, 3])
    func ranksFindEachOtherThroughTheProgramsStore(worldSize n: Int) {
        let context = Context()
        let outcomes = Locked<[String]>([])
        let threads = (0..<n).map { rank in
            SystemThread(name: "rank \(rank)") {
                var store = CallbackStoreTests.callbacks(context)
                var comm: OpaquePointer?
                guard cCommInitWithStore(&comm, Int32(rank), Int32(n), &store, 60) == collSuccess else {
                    outcomes.withLock { $0.append("rank \(rank): init: \(String(cString: cGetLastError()))") }
                    return
                }
                var values = [Double](repeating: Double(rank + 1), count: 1001)
                let result = values.withUnsafeMutableBytes { cAllReduce($0.baseAddress, $0.baseAddress, 1001, collFloat64, collSum, comm) }
                let expected = Double(n * (n + 1) / 2)
                outcomes.withLock {
                    $0.append(result == collSuccess && values.allSatisfy { $0 == expected } ? "ok" : "rank \(rank): \(result) \(values[0])")
                }
                _ = cCommDestroy(comm)
            }
        }
        threads.forEach { $0.join() }
        #expect(outcomes.withLock { $0 } == Array(repeating: "ok", count: n), "\(outcomes.withLock { $0 })")
    }

    @Test func aFailingCallbackIsARendezvousErrorNamingTheCall() {
        let context = Context(setFailure: 7)
        var store = Self.callbacks(context)
        var comm: OpaquePointer?
        let result = cCommInitWithStore(&comm, 0, 2, &store, 5)
        #expect(result == collRendezvousError, "\(result)")
        #expect(comm == nil)
        let message = String(cString: cGetLastError())
        #expect(message.contains("the program's store failed: its set of") && message.contains("returned 7"), "\(message)")
    }

    @Test func aTimeoutOfNothingIsRefused() {
        var store = Self.callbacks(Context())
        var comm: OpaquePointer?
        #expect(cCommInitWithStore(&comm, 0, 2, &store, 0) == collInvalidArgument)
        #expect(String(cString: cGetLastError()).contains("timeout_seconds"))
    }
}
