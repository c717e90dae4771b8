/*
 * The C interface checked from C, under a launcher (collectives-run -n N): every call of
 * collectives.h (collectives, gather and scatter, the variable all-to-all, split, started
 * sends and receives) on counts of zero, one, below the world size and not divisible by it, in place
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
    /* In place on the root (sendbuf == recvbuf), out of place elsewhere. */
    for (size_t i = 0; i < count; i++) buffer[i] = (int32_t)value(rank, i);
    OK(collReduce(buffer, rank == root ? buffer : NULL, count, collInt32, collMax, root, comm));
    if (rank == root)
        for (size_t i = 0; i < count; i++) CHECK(buffer[i] == (int32_t)max_over_ranks(i), "in-place reduce of %zu to %d at %zu", count, root, i);
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

static void personalized_checks(collComm_t comm, size_t block, int root) {
    size_t whole = block * (size_t)ranks;
    double *send = malloc((whole + 1) * sizeof(double)), *recv = malloc((whole + 1) * sizeof(double));
    /* Gather: rank r's block holds r * 1000 + i. */
    for (size_t i = 0; i < block; i++) send[i] = rank * 1000.0 + (double)i;
    for (size_t i = 0; i < whole; i++) recv[i] = -1;
    OK(collGather(send, rank == root ? recv : NULL, block, collFloat64, root, comm));
    if (rank == root)
        for (int r = 0; r < ranks; r++)
            for (size_t i = 0; i < block; i++)
                CHECK(recv[(size_t)r * block + i] == r * 1000.0 + (double)i, "gather of %zu to %d: rank %d's element %zu", block, root, r, i);
    /* Scatter: block j of the root's buffer holds j * 100 + i. */
    for (int j = 0; j < ranks; j++)
        for (size_t i = 0; i < block; i++) send[(size_t)j * block + i] = rank == root ? j * 100.0 + (double)i : -7;
    OK(collScatter(rank == root ? send : NULL, recv, block, collFloat64, root, comm));
    for (size_t i = 0; i < block; i++) CHECK(recv[i] == rank * 100.0 + (double)i, "scatter of %zu from %d at %zu: %g", block, root, i, recv[i]);
    free(send); free(recv);
}

/* Variable all-to-all: rank r sends (r + j) % 3 + extra elements to rank j, each r * 100 + j * 10 + i. */
static size_t variable_count(int from, int to, size_t extra) { return (size_t)((from + to) % 3) + extra; }

static void variable_checks(collComm_t comm, size_t extra) {
    size_t *sendcounts = malloc(sizeof(size_t) * (size_t)ranks), *recvcounts = malloc(sizeof(size_t) * (size_t)ranks);
    size_t out = 0, in = 0;
    for (int j = 0; j < ranks; j++) {
        sendcounts[j] = variable_count(rank, j, extra);
        recvcounts[j] = variable_count(j, rank, extra);
        out += sendcounts[j];
        in += recvcounts[j];
    }
    int32_t *send = malloc((out + 1) * sizeof(int32_t)), *recv = malloc((in + 1) * sizeof(int32_t));
    size_t at = 0;
    for (int j = 0; j < ranks; j++)
        for (size_t i = 0; i < sendcounts[j]; i++) send[at++] = rank * 100 + j * 10 + (int32_t)i;
    OK(collAllToAllv(send, sendcounts, recv, recvcounts, collInt32, comm));
    at = 0;
    for (int r = 0; r < ranks; r++)
        for (size_t i = 0; i < recvcounts[r]; i++, at++)
            CHECK(recv[at] == r * 100 + rank * 10 + (int32_t)i, "variable all-to-all (extra %zu) from rank %d at %zu: %d", extra, r, i, recv[at]);
    /* Started, with the count arrays freed before the wait (they are read during the call only). */
    size_t *early_send = malloc(sizeof(size_t) * (size_t)ranks), *early_recv = malloc(sizeof(size_t) * (size_t)ranks);
    memcpy(early_send, sendcounts, sizeof(size_t) * (size_t)ranks);
    memcpy(early_recv, recvcounts, sizeof(size_t) * (size_t)ranks);
    for (size_t i = 0; i < in; i++) recv[i] = -1;
    collRequest_t started = NULL;
    OK(collIAllToAllv(send, early_send, recv, early_recv, collInt32, comm, &started));
    free(early_send);
    free(early_recv);
    OK(collWait(started));
    at = 0;
    for (int r = 0; r < ranks; r++)
        for (size_t i = 0; i < recvcounts[r]; i++, at++)
            CHECK(recv[at] == r * 100 + rank * 10 + (int32_t)i, "started variable all-to-all (extra %zu) from rank %d at %zu", extra, r, i);
    free(send); free(recv); free(sendcounts); free(recvcounts);
}

/* Variable counts: rank r's block has r % 3 + extra elements, each r * 1000 + i. */
static size_t block_of(int r, size_t extra) { return (size_t)(r % 3) + extra; }

static void variable_count_checks(collComm_t comm, size_t extra, int root) {
    size_t *counts = malloc(sizeof(size_t) * (size_t)ranks), total = 0;
    for (int r = 0; r < ranks; r++) total += counts[r] = block_of(r, extra);
    int64_t *mine = malloc((counts[rank] + 1) * sizeof(int64_t)), *all = malloc((total + 1) * sizeof(int64_t));
    for (size_t i = 0; i < counts[rank]; i++) mine[i] = rank * 1000 + (int64_t)i;
    OK(collAllGatherv(mine, all, counts, collInt64, comm));
    size_t at = 0;
    for (int r = 0; r < ranks; r++)
        for (size_t i = 0; i < counts[r]; i++, at++) CHECK(all[at] == r * 1000 + (int64_t)i, "all-gatherv (+%zu): rank %d's %zu", extra, r, i);
    for (size_t i = 0; i < total; i++) all[i] = -1;
    OK(collGatherv(mine, counts[rank], rank == root ? all : NULL, rank == root ? counts : NULL, collInt64, root, comm));
    if (rank == root) {
        at = 0;
        for (int r = 0; r < ranks; r++)
            for (size_t i = 0; i < counts[r]; i++, at++) CHECK(all[at] == r * 1000 + (int64_t)i, "gatherv (+%zu) to %d: rank %d's %zu", extra, root, r, i);
    }
    /* Scatterv: the root's block j holds j * 1000 + i. */
    at = 0;
    for (int j = 0; j < ranks; j++)
        for (size_t i = 0; i < counts[j]; i++, at++) all[at] = j * 1000 + (int64_t)i;
    for (size_t i = 0; i < counts[rank]; i++) mine[i] = -1;
    OK(collScatterv(rank == root ? all : NULL, rank == root ? counts : NULL, mine, counts[rank], collInt64, root, comm));
    for (size_t i = 0; i < counts[rank]; i++) CHECK(mine[i] == rank * 1000 + (int64_t)i, "scatterv (+%zu) from %d at %zu", extra, root, i);
    free(counts); free(mine); free(all);
}

/* Every started form at once, then waited for (one polled with collTest first), each checked. */
static void started_checks(collComm_t comm, size_t block, int root) {
    size_t whole = block * (size_t)ranks;
    double *bcast = malloc((block + 1) * sizeof(double)), *red = malloc((block + 1) * sizeof(double)),
           *red_out = malloc((block + 1) * sizeof(double)), *ag_in = malloc((block + 1) * sizeof(double)),
           *ag_out = malloc((whole + 1) * sizeof(double)), *rs_in = malloc((whole + 1) * sizeof(double)),
           *rs_out = malloc((block + 1) * sizeof(double)), *a2a_in = malloc((whole + 1) * sizeof(double)),
           *a2a_out = malloc((whole + 1) * sizeof(double)), *g_out = malloc((whole + 1) * sizeof(double)),
           *s_in = malloc((whole + 1) * sizeof(double)), *s_out = malloc((block + 1) * sizeof(double));
    size_t *counts = malloc(sizeof(size_t) * (size_t)ranks), total = 0;
    for (int r = 0; r < ranks; r++) total += counts[r] = block_of(r, block);
    int32_t *v_in = malloc((counts[rank] + 1) * sizeof(int32_t)), *v_out = malloc((total + 1) * sizeof(int32_t));
    for (size_t i = 0; i < block; i++) {
        bcast[i] = rank == root ? (double)(i * 5 + 1) : -1;
        red[i] = value(rank, i);
        ag_in[i] = rank * 1000.0 + (double)i;
    }
    for (size_t j = 0; j < whole; j++) {
        rs_in[j] = value(rank, j);
        a2a_in[j] = rank * 100.0 + (double)(j / (block ? block : 1)) * 10.0 + (double)(j % (block ? block : 1));
        s_in[j] = rank == root ? (double)j * 3 : -5;
    }
    for (size_t i = 0; i < counts[rank]; i++) v_in[i] = rank * 1000 + (int32_t)i;
    collRequest_t requests[9] = {NULL};
    OK(collIBroadcast(bcast, bcast, block, collFloat64, root, comm, &requests[0]));
    OK(collIReduce(red, rank == root ? red_out : NULL, block, collFloat64, collSum, root, comm, &requests[1]));
    OK(collIAllGather(ag_in, ag_out, block, collFloat64, comm, &requests[2]));
    OK(collIReduceScatter(rs_in, rs_out, block, collFloat64, collMax, comm, &requests[3]));
    OK(collIAllToAll(a2a_in, a2a_out, block, collFloat64, comm, &requests[4]));
    OK(collIGather(ag_in, rank == root ? g_out : NULL, block, collFloat64, root, comm, &requests[5]));
    OK(collIScatter(rank == root ? s_in : NULL, s_out, block, collFloat64, root, comm, &requests[6]));
    OK(collIAllGatherv(v_in, v_out, counts, collInt32, comm, &requests[7]));
    OK(collIBarrier(comm, &requests[8]));
    int done = 0;
    for (long polls = 0; !done && polls < 100000000L; polls++) {
        collResult_t polled = collTest(requests[0], &done);
        CHECK(polled == collSuccess || polled == collInProgress, "collTest on a started broadcast: %d", polled);
        if (polled != collSuccess && polled != collInProgress) break;
    }
    CHECK(done, "the started broadcast never finished under collTest");
    for (int k = 1; k < 9; k++) CHECK(collWait(requests[k]) == collSuccess, "started call %d: %s", k, collGetLastError());
    for (size_t i = 0; i < block; i++) CHECK(bcast[i] == (double)(i * 5 + 1), "started broadcast of %zu at %zu", block, i);
    if (rank == root)
        for (size_t i = 0; i < block; i++) CHECK(red_out[i] == sum_over_ranks(i), "started reduce of %zu at %zu", block, i);
    for (int r = 0; r < ranks; r++)
        for (size_t i = 0; i < block; i++) {
            CHECK(ag_out[(size_t)r * block + i] == r * 1000.0 + (double)i, "started all-gather of %zu", block);
            CHECK(a2a_out[(size_t)r * block + i] == r * 100.0 + rank * 10.0 + (double)i, "started all-to-all of %zu from %d", block, r);
            if (rank == root) CHECK(g_out[(size_t)r * block + i] == r * 1000.0 + (double)i, "started gather of %zu", block);
        }
    for (size_t i = 0; i < block; i++) {
        size_t j = (size_t)rank * block + i;
        double m = value(0, j);
        for (int r = 1; r < ranks; r++) m = value(r, j) > m ? value(r, j) : m;
        CHECK(rs_out[i] == m, "started reduce-scatter of %zu at %zu", block, i);
        CHECK(s_out[i] == (double)j * 3, "started scatter of %zu at %zu", block, i);
    }
    size_t at = 0;
    for (int r = 0; r < ranks; r++)
        for (size_t i = 0; i < counts[r]; i++, at++) CHECK(v_out[at] == r * 1000 + (int32_t)i, "started all-gatherv: rank %d's %zu", r, i);
    free(bcast); free(red); free(red_out); free(ag_in); free(ag_out); free(rs_in); free(rs_out); free(a2a_in); free(a2a_out);
    free(g_out); free(s_in); free(s_out); free(counts); free(v_in); free(v_out);
}

/* Both sides started before either waits, with messages far larger than any ring or socket buffer. */
static void exchange_checks(collComm_t comm) {
    size_t count = 3000001;
    int peer = rank ^ 1;
    if (peer >= ranks) return;
    float *out = malloc(count * sizeof(float)), *in = malloc(count * sizeof(float));
    for (size_t i = 0; i < count; i++) { out[i] = (float)(rank * 7 + (int)(i % 1000)); in[i] = -1; }
    collRequest_t sent = NULL, received = NULL;
    OK(collISend(out, count, collFloat32, peer, 3, comm, &sent));
    OK(collIRecv(in, count, collFloat32, peer, 3, comm, &received));
    int done = 0;
    OK(collTest(received, &done));
    CHECK(done == 1, "collTest on a receive request waits for it");
    OK(collWait(sent));
    size_t wrong = 0;
    for (size_t i = 0; i < count; i++) wrong += in[i] != (float)(peer * 7 + (int)(i % 1000));
    CHECK(wrong == 0, "%zu of %zu exchanged elements wrong", wrong, count);
    free(out); free(in);
}

static void split_checks(collComm_t comm) {
    collComm_t half = NULL;
    int color = rank == ranks - 1 && ranks > 2 ? COLL_SPLIT_NOCOLOR : rank % 2;
    OK(collCommSplit(comm, color, -rank, &half));
    if (color == COLL_SPLIT_NOCOLOR) {
        CHECK(half == NULL, "a rank without a color gets no communicator");
        return;
    }
    int members = 0, mine = -1;
    for (int r = 0; r < ranks; r++)
        if (r % 2 == color && !(r == ranks - 1 && ranks > 2)) members++;
    OK(collCommCount(half, &mine));
    CHECK(mine == members, "split count %d, expected %d", mine, members);
    /* Keyed by -rank: the highest rank of the color is rank 0 of the half. */
    int new_rank = -1, expected = 0;
    for (int r = rank + 1; r < ranks; r++)
        if (r % 2 == color && !(r == ranks - 1 && ranks > 2)) expected++;
    OK(collCommRank(half, &new_rank));
    CHECK(new_rank == expected, "split rank %d, expected %d", new_rank, expected);
    int64_t x = rank, total = 0;
    OK(collAllReduce(&x, &x, 1, collInt64, collSum, half));
    for (int r = 0; r < ranks; r++)
        if (r % 2 == color && !(r == ranks - 1 && ranks > 2)) total += r;
    CHECK(x == total, "sum over the split: %lld, expected %lld", (long long)x, (long long)total);
    OK(collCommDestroy(half));
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
        personalized_checks(comm, counts[c] > 1001 ? 1001 : counts[c], (int)((c + 1) % (size_t)ranks));
        variable_checks(comm, counts[c] > 1001 ? 1001 : counts[c]);
        variable_count_checks(comm, counts[c] > 1001 ? 1001 : counts[c], (int)((c + 2) % (size_t)ranks));
        started_checks(comm, counts[c] > 1001 ? 1001 : counts[c], (int)(c % (size_t)ranks));
    }
    point_to_point_checks(comm);
    exchange_checks(comm);
    split_checks(comm);
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
