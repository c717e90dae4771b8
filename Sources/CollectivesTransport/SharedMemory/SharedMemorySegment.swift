import CCollectivesAtomics
import CollectivesSystem

/// One rank's shared-memory segment in `/dev/shm`: a header (who owns it, whether it is closed,
/// the owner's doorbell), the owner's two board slots (``SharedMemoryBoard``) and one inbound
/// ring per sender.
///
/// | offset | field |
/// |---|---|
/// | 0 | magic `"SCOLLSHM"` (u64) |
/// | 8 | layout version (u32) |
/// | 12 | slots: how many rings follow (u32) |
/// | 16 | owner's rank in its group (u32) |
/// | 20 | owner's process id (u32) |
/// | 24 | ring capacity in bytes (u64) |
/// | 32 | where the owner mapped the segment, in its own address space (u64): single-copy set-up checks it can read the magic there |
/// | 64 | closed flag (u32), set when the owner closes |
/// | 128 | doorbell (u32): bumped by anyone who gives the owner something to do; the owner sleeps on it (futex) |
/// | 192 | sleepers (u32): how many of the owner's threads sleep on the doorbell |
/// | 256 | board capacity in bytes (u64) |
/// | 4096 + b·(128 + board capacity) | board slot *b* (0, 1): round (u64, stored last, with release) at +0, the header (tag value, length, call, count: u64 each) at +8, data at +40 |
/// | rings + s·(128 + capacity), rings = 4096 + 2·(128 + board capacity) | ring for sender *s*: head (u64, written by the sender) at +0, tail (u64, written by the owner) at +64, single-copy acknowledgements (u64, written by the owner) at +96, data at +128 |
///
/// The name holds the creator's process id, so that segments left by a crashed job can be
/// recognized and removed (``removeStale()``); a segment is unlinked as soon as every member has
/// mapped it, so a job that crashes later leaves nothing behind.
final class SharedMemorySegment: @unchecked Sendable {
    static let magic: UInt64 = 0x4D48_534C_4C4F_4353  // "SCOLLSHM" little-endian
    static let version: UInt32 = 4
    static let headerBytes = 4096
    static let ringHeaderBytes = 128
    /// A board slot's bytes before its capacity: 128, so that both slots start on a 128-byte
    /// boundary, where a reader's fetch of a post's first cache line brings the second with it
    /// (the adjacent-line prefetch of x86 cores works on 128-byte pairs).
    static let boardSlotHeaderBytes = 128
    /// Where a board post's bytes start in its slot: right after the round and the header, so
    /// that a post of up to 24 bytes shares the round's cache line and a reader takes one miss.
    static let boardDataOffset = 40
    /// The bytes one board post can carry.
    static let boardCapacity = 32 << 10
    /// Where in a ring's header the owner counts the single-copy frames it has read.
    static let acknowledgementsOffset = 96
    static let namePrefix = "swift-collectives-"

    let name: String
    let base: UnsafeMutableRawPointer
    let bytes: Int
    let capacity: Int
    let slots: Int
    /// The bytes one of this segment's board slots carries.
    let boardCapacity: Int
    private(set) var unlinked = false
    /// A pidfd of the owner, opened when the segment is mapped (the owner runs then): it says
    /// when that very process ends, where `kill(pid, 0)` is fooled by a zombie or a reused pid.
    /// `nil` for a segment of our own, or where the kernel has no pidfds (before Linux 5.3).
    private var ownerWatch: ProcessWatch?

    private init(name: String, base: UnsafeMutableRawPointer, bytes: Int, capacity: Int, slots: Int, boardCapacity: Int) {
        self.boardCapacity = boardCapacity
        self.name = name
        self.base = base
        self.bytes = bytes
        self.capacity = capacity
        self.slots = slots
    }

    deinit {
        SharedMemoryMapping(base: base, bytes: bytes).unmap()
    }

    /// Watches the owner's liveness through the pidfd of process `pid` from now on (tests only).
    func watchOwner(through pid: Int32) {
        ownerWatch = ProcessWatch(pid)
    }

    static func size(slots: Int, capacity: Int, boardCapacity: Int) -> Int {
        ringsOffset(boardCapacity: boardCapacity) + slots * (ringHeaderBytes + capacity)
    }

    static func ringsOffset(boardCapacity: Int) -> Int { headerBytes + 2 * (boardSlotHeaderBytes + boardCapacity) }

    /// Creates and maps a new segment owned by this process.
    static func create(jobID: UInt64, group: UInt64, rank: Int, slots: Int, capacity: Int,
                       boardCapacity: Int = SharedMemorySegment.boardCapacity) throws(SegmentError) -> SharedMemorySegment {
        removeStale()
        let name = "/\(namePrefix)\(thisProcessID)-\(String(jobID, radix: 16))-\(String(group, radix: 16))-\(rank)"
        let bytes = size(slots: slots, capacity: capacity, boardCapacity: boardCapacity)
        let memory: UnsafeMutableRawPointer
        do {
            memory = try SharedMemoryFile.create(name, bytes: bytes).base
        } catch {
            switch error {
            case .system(let failure): throw .system(failure)
            case .noRoom(let needed): throw .noRoom(needed: needed, free: SharedMemoryFile.freeBytes())
            }
        }
        let segment = SharedMemorySegment(name: name, base: memory, bytes: bytes, capacity: capacity, slots: slots,
                                          boardCapacity: boardCapacity)
        memory.storeBytes(of: UInt32(slots), toByteOffset: 12, as: UInt32.self)
        memory.storeBytes(of: UInt32(rank), toByteOffset: 16, as: UInt32.self)
        memory.storeBytes(of: UInt32(bitPattern: thisProcessID), toByteOffset: 20, as: UInt32.self)
        memory.storeBytes(of: UInt64(capacity), toByteOffset: 24, as: UInt64.self)
        memory.storeBytes(of: UInt64(UInt(bitPattern: memory)), toByteOffset: 32, as: UInt64.self)
        memory.storeBytes(of: UInt64(boardCapacity), toByteOffset: 256, as: UInt64.self)
        memory.storeBytes(of: version, toByteOffset: 8, as: UInt32.self)
        collectives_store_release_u64(memory, magic)
        return segment
    }

    /// Maps another rank's segment by name and checks its header.
    static func open(name: String, expectedRank: Int) throws(TransportError) -> SharedMemorySegment {
        func failure(_ why: String) -> TransportError {
            TransportError(.protocolViolation("shared-memory segment \(name): \(why)"), rank: -1, peer: expectedRank, operation: "shared-memory set-up")
        }
        guard name.hasPrefix("/" + namePrefix), !name.dropFirst().contains("/") else { throw failure("not a segment name") }
        let memory: UnsafeMutableRawPointer, bytes: Int
        do {
            let mapping = try SharedMemoryFile.open(name, minimumBytes: headerBytes)
            (memory, bytes) = (mapping.base, mapping.bytes)
        } catch {
            switch error {
            case .cannotOpen(let cause): throw failure("cannot open: \(cause)")
            case .tooSmall: throw failure("too small")
            case .cannotMap(let cause): throw failure("cannot map: \(cause)")
            }
        }
        // Written by another process: every value is checked before it is used, without a trap.
        let slots = Int(memory.load(fromByteOffset: 12, as: UInt32.self))
        let capacity = Int(exactly: memory.load(fromByteOffset: 24, as: UInt64.self)) ?? -1
        let boardCapacity = Int(exactly: memory.load(fromByteOffset: 256, as: UInt64.self)) ?? -1
        guard collectives_load_acquire_u64(memory) == magic, memory.load(fromByteOffset: 8, as: UInt32.self) == version,
              Int(memory.load(fromByteOffset: 16, as: UInt32.self)) == expectedRank,
              boardCapacity == Self.boardCapacity, capacity > 0, capacity <= bytes,
              ringsOffset(boardCapacity: boardCapacity) <= bytes,
              slots <= (bytes - ringsOffset(boardCapacity: boardCapacity)) / (ringHeaderBytes + capacity) else {
            SharedMemoryMapping(base: memory, bytes: bytes).unmap()
            throw failure("unexpected header")
        }
        let segment = SharedMemorySegment(name: name, base: memory, bytes: bytes, capacity: capacity, slots: slots,
                                          boardCapacity: boardCapacity)
        segment.ownerWatch = ProcessWatch(segment.ownerPID)
        if segment.ownerWatch == nil && !Processes.exists(segment.ownerPID) {
            throw failure("its owner, pid \(segment.ownerPID), has already exited")
        }
        return segment
    }

    /// Removes the name; the memory stays mapped by everyone who has it.
    func unlink() {
        guard !unlinked else { return }
        unlinked = true
        SharedMemoryFile.unlink(name)
    }

    var ownerPID: Int32 { Int32(bitPattern: base.load(fromByteOffset: 20, as: UInt32.self)) }
    /// Where the owner mapped this segment in its own address space.
    var ownerAddress: UInt64 { base.load(fromByteOffset: 32, as: UInt64.self) }

    /// Whether this process can read the owner's memory directly (process_vm_readv): it reads
    /// the magic at the start of the owner's own mapping.
    var ownerMemoryIsReadable: Bool {
        var word: UInt64 = 0
        let read = withUnsafeMutableBytes(of: &word) {
            try? Processes.readMemory(of: ownerPID, at: UnsafeRawPointer(bitPattern: UInt(ownerAddress)), into: $0.baseAddress!, count: 8)
        }
        return read == 8 && word == Self.magic
    }
    var closedFlag: UnsafeMutableRawPointer { base + 64 }
    var doorbell: UnsafeMutableRawPointer { base + 128 }
    var sleepers: UnsafeMutableRawPointer { base + 192 }

    /// The ring that `sender` writes into.
    func ring(from sender: Int) -> UnsafeMutableRawPointer {
        precondition(sender < slots)
        return base + Self.ringsOffset(boardCapacity: boardCapacity) + sender * (Self.ringHeaderBytes + capacity)
    }

    /// Board slot `parity` (0 or 1): written by the owner only, read by everyone.
    func boardSlot(_ parity: Int) -> UnsafeMutableRawPointer {
        base + Self.headerBytes + (parity & 1) * (Self.boardSlotHeaderBytes + boardCapacity)
    }

    var isClosed: Bool { collectives_load_u32(closedFlag) != 0 }

    /// Whether the owner has closed its transport or is no longer running.
    var ownerHasLeft: Bool { isClosed || !ownerIsAlive }

    /// Whether the owner still runs (a process that is gone cannot answer): its pidfd is
    /// readable once it has exited, zombie or not; without a pidfd, `kill(pid, 0)`.
    var ownerIsAlive: Bool {
        if let ownerWatch { return ownerWatch.isAlive }
        return Processes.exists(ownerPID)
    }

    /// Tells the owner it has something to do, after a ring's head or tail was stored: if it
    /// sleeps (or is about to), bumps its doorbell and wakes it; otherwise costs one fence.
    ///
    /// The fence orders the position stored before against the load of `sleepers`; the owner
    /// counts itself a sleeper before it reads the positions a last time, so either it sees the
    /// new position or this sees it sleeping.
    func ring() {
        collectives_fence()
        wakeIfSleeping()
    }

    /// Bumps the doorbell and wakes the owner if it counts itself a sleeper. The caller has
    /// fenced its stores before (``ring()`` does; a poster waking several owners fences once).
    func wakeIfSleeping() {
        if collectives_load_u32(sleepers) != 0 {
            _ = collectives_fetch_add_u32(doorbell, 1)
            Futex.wakeAll(on: doorbell)
        }
    }

    /// Unlinks segments in `/dev/shm` whose creator is no longer running (left by a crashed job).
    static func removeStale() {
        for name in SharedMemoryFile.names() where name.hasPrefix(namePrefix) {
            let rest = name.dropFirst(namePrefix.count)
            guard let dash = rest.firstIndex(of: "-"), let pid = Int32(rest[..<dash]) else { continue }
            if !Processes.exists(pid) { SharedMemoryFile.unlink("/" + name) }
        }
    }
}
