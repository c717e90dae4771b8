/*
 * The C interface checked from C, under a launcher (collectives-run -n N): every call of
 * collectives.h on counts of zero, one, below the world size and not divisible by it, in place
 * and out of place, against values this program computes itself (sums of closed forms, in
 * double); then the errors (a bad root, type or operation: their codes and messages).
 * Prints "rank R: c interface ok (K checks)" and exits 0, or names every failed check and exits 1.
 */
#include "collectives.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int failures = 0, checks = 0, rank = -1, ranks = 0;

#define CHECK(condition, ...)                                                      \
    do {                                                                           \
        checks++;                                                                  \
        if (!(condition)) {                                                        \
            failures++;                                                            \
            fprintf(stderr, "rank %d: FAILED line %d: ", rank, __LINE__);          \
            fprintf(stderr, __VA_ARGS__);                                          \
            fprintf(stderr, " (last error: %s)\n", collGetLastError());            \
        }                                                                          \
    } while (0)

#define OK(call) CHECK((call) == collSuccess, "%s", #call)

/* The value rank r contributes at index i: small integers, exact in float. */
static double value(int r, size_t i) { return (double)((r + 1) * 3 + (int)(i % 7)); }

static double sum_over_ranks(size_t i) {
    double s = 0;
    for (int r = 0; r < ranks; r++) s += value(r, i);
    return s;
}

static double max_over_ranks(size_t i) {
    double m = value(0, i);
    for (int r = 1; r < ranks; r++) m = value(r, i) > m ? value(r, i) : m;
    return m;
}

static void all_reduce_checks(collComm_t comm, size_t count) {
    float *send = malloc((count + 1) * sizeof(float)), *recv = malloc((count + 1) * sizeof(float));
    double *d = malloc((count + 1) * sizeof(double));
    int64_t *l = malloc((count + 1) * sizeof(int64_t));
    for (size_t i = 0; i < count; i++) send[i] = (float)value(rank, i);

    OK(collAllReduce(send, recv, count, collFloat32, collSum, comm));
    for (size_t i = 0; i < count; i++) CHECK(recv[i] == (float)sum_over_ranks(i), "float sum of %zu at %zu: %g", count, i, recv[i]);

    for (size_t i = 0; i < count; i++) d[i] = value(rank, i);
    OK(collAllReduce(d, d, count, collFloat64, collAverage, comm));
    for (size_t i = 0; i < count; i++)
        CHECK(fabs(d[i] - sum_over_ranks(i) / ranks) < 1e-12, "double average in place of %zu at %zu: %g", count, i, d[i]);

    for (size_t i = 0; i < count; i++) l[i] = (int64_t)value(rank, i);
    OK(collAllReduce(l, l, count, collInt64, collMax, comm));
    for (size_t i = 0; i < count; i++) CHECK(l[i] == (int64_t)max_over_ranks(i), "int64 max of %zu at %zu", count, i);

    /* Non-blocking, tested then waited. */
    collRequest_t request = NULL;
    OK(collIAllReduce(send, recv, count, collFloat32, collSum, comm, &request));
    int done = 0;
    collResult_t tested = collTest(request, &done);
    if (!done) {
        CHECK(tested == collInProgress, "collTest of a running request returned %d", tested);
        OK(collWait(request));
    } else {
        CHECK(tested == collSuccess, "collTest of a finished request returned %d", tested);
    }
    for (size_t i = 0; i < count; i++) CHECK(recv[i] == (float)sum_over_ranks(i), "iallreduce of %zu at %zu", count, i);
    free(send); free(recv); free(d); free(l);
}

static void rooted_checks(collComm_t comm, size_t count, int root) {
    int32_t *buffer = malloc((count + 1) * sizeof(int32_t)), *out = malloc((count + 1) * sizeof(int32_t));
    for (size_t i = 0; i < count; i++) buffer[i] = rank == root ? (int32_t)(i * 5 + 1) : -1;
    OK(collBroadcast(buffer, buffer, count, collInt32, root, comm));
    for (size_t i = 0; i < count; i++) CHECK(buffer[i] == (int32_t)(i * 5 + 1), "broadcast of %zu from %d at %zu", count, root, i);

    for (size_t i = 0; i < count; i++) buffer[i] = (int32_t)value(rank, i);
    for (size_t i = 0; i < count; i++) out[i] = -7;
    OK(collReduce(buffer, rank == root ? out : NULL, count, collInt32, collSum, root, comm));
    if (rank == root)
        for (size_t i = 0; i < count; i++) CHECK(out[i] == (int32_t)sum_over_ranks(i), "reduce of %zu to %d at %zu", count, root, i);
    free(buffer); free(out);
}

static void block_checks(collComm_t comm, size_t block) {
    size_t whole = block * (size_t)ranks;
    double *send = malloc((whole + 1) * sizeof(double)), *recv = malloc((whole + 1) * sizeof(double));
    /* All-gather: rank r's block holds r * 1000 + i. */
    for (size_t i = 0; i < block; i++) send[i] = rank * 1000.0 + (double)i;
    OK(collAllGather(send, recv, block, collFloat64, comm));
    for (int r = 0; r < ranks; r++)
        for (size_t i = 0; i < block; i++)
            CHECK(recv[(size_t)r * block + i] == r * 1000.0 + (double)i, "all-gather of %zu: rank %d's element %zu", block, r, i);
    /* In place: this rank's block already at its place. */
    for (size_t i = 0; i < whole; i++) recv[i] = -1;
    for (size_t i = 0; i < block; i++) recv[(size_t)rank * block + i] = rank * 1000.0 + (double)i;
    OK(collAllGather(recv + (size_t)rank * block, recv, block, collFloat64, comm));
    for (int r = 0; r < ranks; r++)
        for (size_t i = 0; i < block; i++)
            CHECK(recv[(size_t)r * block + i] == r * 1000.0 + (double)i, "in-place all-gather of %zu", block);

    /* Reduce-scatter: element j of the whole is value(rank, j); this rank gets its block's sums. */
    for (size_t j = 0; j < whole; j++) send[j] = value(rank, j);
    OK(collReduceScatter(send, recv, block, collFloat64, collSum, comm));
    for (size_t i = 0; i < block; i++)
        CHECK(recv[i] == sum_over_ranks((size_t)rank * block + i), "reduce-scatter of %zu at %zu", block, i);

    /* All-to-all: block j sent to rank j holds rank * 100 + j * 10 + i. */
    for (int j = 0; j < ranks; j++)
        for (size_t i = 0; i < block; i++) send[(size_t)j * block + i] = rank * 100.0 + j * 10.0 + (double)i;
    OK(collAllToAll(send, recv, block, collFloat64, comm));
    for (int r = 0; r < ranks; r++)
        for (size_t i = 0; i < block; i++)
            CHECK(recv[(size_t)r * block + i] == r * 100.0 + rank * 10.0 + (double)i, "all-to-all of %zu from rank %d", block, r);
    free(send); free(recv);
}

static void point_to_point_checks(collComm_t comm) {
    int next = (rank + 1) % ranks, previous = (rank + ranks - 1) % ranks;
    uint8_t message[5] = {(uint8_t)rank, 1, 2, 3, 4}, received[5] = {0};
    if (rank % 2 == 0) {
        OK(collSend(message, 5, collUInt8, next, 7, comm));
        OK(collRecv(received, 5, collUInt8, previous, 7, comm));
    } else {
        OK(collRecv(received, 5, collUInt8, previous, 7, comm));
        OK(collSend(message, 5, collUInt8, next, 7, comm));
    }
    CHECK(received[0] == (uint8_t)previous && received[4] == 4, "message from rank %d", previous);
}

static void error_checks(collComm_t comm) {
    float x = 1;
    CHECK(collBroadcast(&x, &x, 1, collFloat32, ranks + 3, comm) == collInvalidArgument, "a root outside the group");
    CHECK(strstr(collGetLastError(), "root") != NULL, "the message names the root: %s", collGetLastError());
    CHECK(collAllReduce(&x, &x, 1, (collDataType_t)99, collSum, comm) == collInvalidArgument, "an unknown data type");
    CHECK(collAllReduce(&x, &x, 1, collFloat32, (collRedOp_t)42, comm) == collInvalidArgument, "an unknown operation");
    CHECK(collAllReduce(&x, &x, 1, collFloat32, collBitwiseXor, comm) == collInvalidArgument, "xor of floats");
    CHECK(strstr(collGetLastError(), "float32") != NULL, "the message names the type: %s", collGetLastError());
    CHECK(collAllReduce(&x, &x, 1, collFloat32, collSum, NULL) == collInvalidArgument, "a NULL communicator");
    CHECK(strcmp(collGetErrorString(collTimedOut), "collTimedOut: timed out") == 0, "error string: %s", collGetErrorString(collTimedOut));
}

int main(void) {
    collComm_t comm = NULL;
    if (collCommInitFromEnv(&comm) != collSuccess) {
        fprintf(stderr, "collCommInitFromEnv failed: %s\n", collGetLastError());
        return 1;
    }
    OK(collCommRank(comm, &rank));
    OK(collCommCount(comm, &ranks));
    size_t counts[] = {0, 1, (size_t)(ranks > 1 ? ranks - 1 : 1), 1001, 70001};
    for (size_t c = 0; c < sizeof counts / sizeof counts[0]; c++) {
        all_reduce_checks(comm, counts[c]);
        rooted_checks(comm, counts[c], (int)(c % (size_t)ranks));
        block_checks(comm, counts[c] > 1001 ? 1001 : counts[c]);
    }
    point_to_point_checks(comm);
    OK(collBarrier(comm));
    error_checks(comm);
    OK(collBarrier(comm));
    OK(collCommDestroy(comm));
    if (failures) {
        printf("rank %d: c interface: %d of %d checks failed\n", rank, failures, checks);
        return 1;
    }
    printf("rank %d: c interface ok (%d checks, version %s)\n", rank, checks, collGetVersion());
    return 0;
}
