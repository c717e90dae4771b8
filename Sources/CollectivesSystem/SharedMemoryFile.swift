#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A POSIX shared-memory object (`/dev/shm`) mapped into this process.
package struct SharedMemoryMapping: @unchecked Sendable {
    package let base: UnsafeMutableRawPointer
    package let bytes: Int

    package init(base: UnsafeMutableRawPointer, bytes: Int) {
        self.base = base
        self.bytes = bytes
    }

    /// Unmaps it; the object stays until unlinked and unmapped everywhere.
    package func unmap() { munmap(base, bytes) }
}

/// Why a shared-memory object could not be made.
package enum SharedMemoryCreationError: Error, Sendable {
    /// A call failed.
    case system(SystemError)
    /// The file system (`/dev/shm`) has no room for `needed` bytes.
    case noRoom(needed: Int)
}

/// Shared-memory objects by name: made, mapped, listed and unlinked.
package enum SharedMemoryFile {
    /// Makes the object `name` (which must not exist) of `bytes` bytes, reserves every page (a
    /// tmpfs without room would otherwise answer the first touch of a page, in the middle of a
    /// collective, with SIGBUS) and maps it. Nothing is left behind on failure.
    package static func create(_ name: String, bytes: Int) throws(SharedMemoryCreationError) -> SharedMemoryMapping {
        let descriptor = shm_open(name, O_CREAT | O_EXCL | O_RDWR, 0o600)
        guard descriptor >= 0 else { throw .system(SystemError(call: "shm_open(\(name))", errno: errno)) }
        defer { close(descriptor) }
        guard ftruncate(descriptor, off_t(bytes)) == 0 else {
            let error = SystemError(call: "ftruncate(\(name), \(bytes))", errno: errno)
            shm_unlink(name)
            throw .system(error)
        }
        let reserved = posix_fallocate(descriptor, 0, off_t(bytes))
        guard reserved == 0 else {
            shm_unlink(name)
            if reserved == ENOSPC { throw .noRoom(needed: bytes) }
            throw .system(SystemError(call: "posix_fallocate(\(name), \(bytes))", errno: reserved))
        }
        do {
            return try map(descriptor, bytes: bytes, call: "mmap(\(name))")
        } catch {
            shm_unlink(name)
            throw .system(error)
        }
    }

    /// Maps the existing object `name`, whole; `minimumBytes` is the least it may hold.
    package static func open(_ name: String, minimumBytes: Int) throws(SharedMemoryOpenError) -> SharedMemoryMapping {
        let descriptor = shm_open(name, O_RDWR, 0)
        guard descriptor >= 0 else { throw .cannotOpen(SystemError(call: "shm_open", errno: errno)) }
        defer { close(descriptor) }
        var status = stat()
        guard fstat(descriptor, &status) == 0, status.st_size >= minimumBytes else { throw .tooSmall }
        do {
            return try map(descriptor, bytes: Int(status.st_size), call: "mmap")
        } catch {
            throw .cannotMap(error)
        }
    }

    /// Removes the name `name` (mappings stay valid).
    package static func unlink(_ name: String) { shm_unlink(name) }

    /// The names of the objects in `/dev/shm`, without the leading `/`.
    package static func names() -> [String] { FileSystem.entries(of: "/dev/shm") ?? [] }

    /// The bytes free in `/dev/shm` (0 when it cannot be asked).
    package static func freeBytes() -> Int { FileSystem.freeBytes(onFileSystemOf: "/dev/shm") }

    private static func map(_ descriptor: Int32, bytes: Int, call: String) throws(SystemError) -> SharedMemoryMapping {
        guard let memory = mmap(nil, bytes, PROT_READ | PROT_WRITE, MAP_SHARED, descriptor, 0), memory != MAP_FAILED else {
            throw SystemError(call: call, errno: errno)
        }
        return SharedMemoryMapping(base: memory, bytes: bytes)
    }
}

/// Why an existing shared-memory object could not be mapped.
package enum SharedMemoryOpenError: Error, Sendable {
    case cannotOpen(SystemError)
    case tooSmall
    case cannotMap(SystemError)
}
