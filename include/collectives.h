/*
 * swift-collectives: the C interface.
 *
 * Collective communication (all-reduce and friends) for programs on CPU clusters, in the
 * shape NCCL users know: a communicator made from the launcher's environment (collectives-run,
 * torchrun, srun, mpirun), then collectives on raw buffers with a data type and an operation.
 * Link with -lSwiftCollectivesC (the dynamic library SwiftPM builds: `swift build -c release
 * --product SwiftCollectivesC`, in .build/release).
 *
 * Errors. Every call returns a collResult_t; on anything but collSuccess, collGetLastError()
 * gives the message of the calling thread's last failed call, naming the rank, the peer and the
 * operation (for example "rank 1: all-reduce #3 (1000 x float32, sum, ring): receive from rank 2:
 * timed out"). After a collective fails (timeout, a peer gone, ranks that called differently),
 * the communicator has failed: every later call returns the same error at once; destroy it.
 *
 * Buffers. A blocking call returns when its buffers may be reused. A non-blocking call's
 * buffers belong to the library until collWait() returns or collTest() reports done: do not
 * read, write or free them before. sendbuf == recvbuf means in place.
 *
 * Threads. Calls on one communicator run one at a time, in the order they were issued, from
 * any thread; every rank must issue the same collectives in the same order with the same
 * counts, types and operations. Different communicators are independent. collCommAbort() may
 * be called from any thread at any time and makes blocked calls return collClosed.
 *
 * Every blocking call is bounded by COLLECTIVES_TIMEOUT (seconds).
 */
#ifndef SWIFT_COLLECTIVES_H
#define SWIFT_COLLECTIVES_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum collResult {
    collSuccess = 0,
    collInvalidArgument = 1, /* a wrong rank, root, count, type or operation */
    collTimedOut = 2,        /* COLLECTIVES_TIMEOUT passed; the message names the ranks that never arrived */
    collPeerGone = 3,        /* a peer died or closed */
    collMismatch = 4,        /* ranks called different collectives; the message names both calls */
    collClosed = 5,          /* the communicator was aborted or destroyed */
    collRendezvousError = 6, /* the ranks could not find each other (store, addresses, secret) */
    collConfigurationError = 7, /* the environment does not say who this rank is */
    collTransportError = 8,  /* a system call or the wire failed */
    collInProgress = 9       /* collTest: the request is not done yet (not an error) */
} collResult_t;

typedef enum collDataType {
    collFloat32 = 0,
    collFloat64 = 1,
    collFloat16 = 2,
    collBFloat16 = 3,
    collInt8 = 4,
    collUInt8 = 5,
    collInt32 = 6,
    collUInt32 = 7,
    collInt64 = 8,
    collUInt64 = 9,
    collBool = 10 /* one byte, 0 or 1 */
} collDataType_t;

typedef enum collRedOp {
    collSum = 0,
    collProduct = 1,
    collMin = 2,
    collMax = 3,
    collAverage = 4,    /* floating-point types only */
    collBitwiseAnd = 5, /* integer types and collBool */
    collBitwiseOr = 6,
    collBitwiseXor = 7
} collRedOp_t;

/* A communicator: a group of ranks that run collectives together. */
typedef struct collComm *collComm_t;
/* A non-blocking operation in flight. */
typedef struct collRequest *collRequest_t;

/* The name of a result code ("collTimedOut: timed out", ...). Never NULL. */
const char *collGetErrorString(collResult_t result);
/* The message of the calling thread's last failed call; "" when none. Valid until the thread's next call. */
const char *collGetLastError(void);
/* The library's version ("0.1.0"). */
const char *collGetVersion(void);

/* A store given as callbacks: how the ranks of collCommInitWithStore find each other (for
 * example a binding's own store, as PyTorch's c10d::Store). Keys are NUL-terminated strings,
 * values bytes. Each callback returns 0 on success, 1 when timeout_seconds passed (get, wait),
 * and any other value on failure (the communicator's error then names the call, key and value).
 * The callbacks may be called from the library's threads, and from more than one at a time (a
 * failing call records its failure while the progress thread publishes), so the store must take
 * calls from several threads, as PyTorch's stores do; context is passed back as given. */
typedef struct collStore {
    void *context;
    int (*set)(void *context, const char *key, const void *value, size_t length);
    /* Waits for key; on success *value is a buffer from malloc() (the library frees it) of *length bytes. */
    int (*get)(void *context, const char *key, void **value, size_t *length, double timeout_seconds);
    /* Adds delta to the integer at key (missing: 0) and returns the sum in *result. */
    int (*add)(void *context, const char *key, long long delta, long long *result);
    /* Waits until every key exists. */
    int (*wait)(void *context, const char *const *keys, size_t count, double timeout_seconds);
    /* *present = 1 when every key exists, 0 otherwise; does not wait. */
    int (*check)(void *context, const char *const *keys, size_t count, int *present);
} collStore_t;

/* Makes this rank's communicator (rank of count) through the given store, with every blocking
 * call bounded by timeout_seconds (> 0). A collective call: every rank makes it, each with a
 * store reaching the same keys. The store is used during this call and, for stuck-rank
 * diagnosis and shrinking, until collCommDestroy: it must stay valid until then. */
collResult_t collCommInitWithStore(collComm_t *comm, int rank, int count, const collStore_t *store, double timeout_seconds);

/* Makes this rank's communicator from the launcher's environment (RANK, WORLD_SIZE,
 * MASTER_ADDR, MASTER_PORT or the Slurm, OpenMPI, MPICH equivalents). A collective call: every
 * rank makes it. */
collResult_t collCommInitFromEnv(collComm_t *comm);
collResult_t collCommRank(collComm_t comm, int *rank);
collResult_t collCommCount(collComm_t comm, int *count);
/* Stops the communicator from any thread: blocked and later calls return collClosed. */
collResult_t collCommAbort(collComm_t comm);
/* Splits comm as MPI_Comm_split does: the ranks passing the same color (>= 0) form one new
 * communicator, ranked by key (ties by their rank in comm); a rank passing COLL_SPLIT_NOCOLOR
 * joins none and gets *newcomm = NULL. A collective call on comm, which stays usable. */
#define COLL_SPLIT_NOCOLOR (-1)
collResult_t collCommSplit(collComm_t comm, int color, int key, collComm_t *newcomm);
/* Closes the communicator and frees it. Not while another thread is inside a call on it. */
collResult_t collCommDestroy(collComm_t comm);

/* recvbuf[i] = op over ranks of sendbuf[i], on every rank; count elements each. */
collResult_t collAllReduce(const void *sendbuf, void *recvbuf, size_t count, collDataType_t datatype, collRedOp_t op,
                           collComm_t comm);
/* recvbuf = root's sendbuf on every rank (sendbuf is read on the root only). */
collResult_t collBroadcast(const void *sendbuf, void *recvbuf, size_t count, collDataType_t datatype, int root,
                           collComm_t comm);
/* The root's recvbuf = op over ranks of sendbuf (recvbuf is written on the root only; sendbuf == recvbuf
 * there means in place). */
collResult_t collReduce(const void *sendbuf, void *recvbuf, size_t count, collDataType_t datatype, collRedOp_t op,
                        int root, collComm_t comm);
/* recvbuf (count x sendcount) = every rank's sendbuf, in rank order. */
collResult_t collAllGather(const void *sendbuf, void *recvbuf, size_t sendcount, collDataType_t datatype,
                           collComm_t comm);
/* recvbuf (recvcount) = this rank's block of op over ranks of sendbuf (count x recvcount). */
collResult_t collReduceScatter(const void *sendbuf, void *recvbuf, size_t recvcount, collDataType_t datatype,
                               collRedOp_t op, collComm_t comm);
/* Block j of sendbuf (count elements) goes to rank j, whose block i of recvbuf it becomes. */
collResult_t collAllToAll(const void *sendbuf, void *recvbuf, size_t count, collDataType_t datatype, collComm_t comm);
/* Rank i's sendbuf (count elements) becomes block i of the root's recvbuf (count x count of
 * ranks); recvbuf is written on the root only. */
collResult_t collGather(const void *sendbuf, void *recvbuf, size_t count, collDataType_t datatype, int root,
                        collComm_t comm);
/* Block i of the root's sendbuf (count of ranks x count) becomes rank i's recvbuf; sendbuf is
 * read on the root only. */
collResult_t collScatter(const void *sendbuf, void *recvbuf, size_t count, collDataType_t datatype, int root,
                         collComm_t comm);
/* All-to-all with a count per rank: sendbuf holds, one after the other, sendcounts[j] elements
 * for each rank j; recvbuf receives recvcounts[i] elements from each rank i, in rank order.
 * Rank j's sendcounts[i] must equal rank i's recvcounts[j] (a difference is collMismatch or
 * collInvalidArgument, never a silent truncation). Both arrays have the communicator's size. */
collResult_t collAllToAllv(const void *sendbuf, const size_t *sendcounts, void *recvbuf, const size_t *recvcounts,
                           collDataType_t datatype, collComm_t comm);
/* Variable counts, blocks one after the other in rank order (MPI's ...v calls without
 * displacements). All-gather: every rank's sendbuf (recvcounts[rank] elements) lands in every
 * recvbuf after the blocks of the ranks before it. Gather: rank i's sendbuf (count elements,
 * which must equal the root's recvcounts[i]) lands in the root's recvbuf; recvcounts and recvbuf
 * are read on the root only (NULL elsewhere). Scatter: the root's sendbuf holds sendcounts[j]
 * elements for each rank j, which receives them in recvbuf (count elements); sendbuf and
 * sendcounts are read on the root only. Count arrays have the communicator's size and are read
 * during the call only (also for the non-blocking forms). */
collResult_t collAllGatherv(const void *sendbuf, void *recvbuf, const size_t *recvcounts, collDataType_t datatype,
                            collComm_t comm);
collResult_t collGatherv(const void *sendbuf, size_t count, void *recvbuf, const size_t *recvcounts, collDataType_t datatype,
                         int root, collComm_t comm);
collResult_t collScatterv(const void *sendbuf, const size_t *sendcounts, void *recvbuf, size_t count, collDataType_t datatype,
                          int root, collComm_t comm);
collResult_t collBarrier(collComm_t comm);
/* Tagged messages between two ranks, matched in the order they were sent; tag >= 0. */
collResult_t collSend(const void *buf, size_t count, collDataType_t datatype, int peer, int tag, collComm_t comm);
collResult_t collRecv(void *buf, size_t count, collDataType_t datatype, int peer, int tag, collComm_t comm);

/* collAllReduce, returning at once with a request for collTest/collWait. */
collResult_t collIAllReduce(const void *sendbuf, void *recvbuf, size_t count, collDataType_t datatype, collRedOp_t op,
                            collComm_t comm, collRequest_t *request);
/* The other collectives, returning at once with a request: the arguments of the blocking
 * form, then the request. Started calls run in the order they were issued, with the blocking
 * calls, on the communicator's thread. */
collResult_t collIBroadcast(const void *sendbuf, void *recvbuf, size_t count, collDataType_t datatype, int root,
                            collComm_t comm, collRequest_t *request);
collResult_t collIReduce(const void *sendbuf, void *recvbuf, size_t count, collDataType_t datatype, collRedOp_t op,
                         int root, collComm_t comm, collRequest_t *request);
collResult_t collIAllGather(const void *sendbuf, void *recvbuf, size_t sendcount, collDataType_t datatype,
                            collComm_t comm, collRequest_t *request);
collResult_t collIReduceScatter(const void *sendbuf, void *recvbuf, size_t recvcount, collDataType_t datatype,
                                collRedOp_t op, collComm_t comm, collRequest_t *request);
collResult_t collIAllToAll(const void *sendbuf, void *recvbuf, size_t count, collDataType_t datatype, collComm_t comm,
                           collRequest_t *request);
collResult_t collIGather(const void *sendbuf, void *recvbuf, size_t count, collDataType_t datatype, int root,
                         collComm_t comm, collRequest_t *request);
collResult_t collIScatter(const void *sendbuf, void *recvbuf, size_t count, collDataType_t datatype, int root,
                          collComm_t comm, collRequest_t *request);
collResult_t collIAllToAllv(const void *sendbuf, const size_t *sendcounts, void *recvbuf, const size_t *recvcounts,
                            collDataType_t datatype, collComm_t comm, collRequest_t *request);
collResult_t collIAllGatherv(const void *sendbuf, void *recvbuf, const size_t *recvcounts, collDataType_t datatype,
                             collComm_t comm, collRequest_t *request);
collResult_t collIGatherv(const void *sendbuf, size_t count, void *recvbuf, const size_t *recvcounts,
                          collDataType_t datatype, int root, collComm_t comm, collRequest_t *request);
collResult_t collIScatterv(const void *sendbuf, const size_t *sendcounts, void *recvbuf, size_t count,
                           collDataType_t datatype, int root, collComm_t comm, collRequest_t *request);
collResult_t collIBarrier(collComm_t comm, collRequest_t *request);
/* collSend and collRecv, returning at once with a request: start both sides of an exchange, then
 * wait, so that neither rank's send waits for a receive the other has not posted yet. */
collResult_t collISend(const void *buf, size_t count, collDataType_t datatype, int peer, int tag, collComm_t comm,
                       collRequest_t *request);
collResult_t collIRecv(void *buf, size_t count, collDataType_t datatype, int peer, int tag, collComm_t comm,
                       collRequest_t *request);
/* *done = 1 when the request has finished (then its result is returned and the request is
 * freed), 0 while it runs (collInProgress is returned). A collISend/collIRecv request cannot
 * be polled: collTest waits for it as collWait does. */
collResult_t collTest(collRequest_t request, int *done);
/* Waits until the request has finished, returns its result and frees it. */
collResult_t collWait(collRequest_t request);

#ifdef __cplusplus
}
#endif

#endif /* SWIFT_COLLECTIVES_H */
