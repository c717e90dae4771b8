/*
 * An MPI all-reduce benchmark with the same sizes, timing and table as collectives-bench, so
 * that Benchmarks/compare-openmpi.sh can put the two side by side.
 *
 *   mpirun -np 4 ./allreduce_bench -b 8 -e 64M -f 2 -n 20 -w 5
 *
 * Times are the largest over ranks of each rank's mean over -n iterations (after -w warm-up
 * iterations and a barrier); busbw = algbw * 2(n-1)/n, as nccl-tests and collectives-bench
 * report it. float32 sum; out of place and in place (MPI_IN_PLACE). Each result is checked
 * against the expected sum of small integers.
 */
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static long parse_size(const char *text) {
    char *end;
    long value = strtol(text, &end, 10);
    if (*end == 'K' || *end == 'k') value <<= 10;
    else if (*end == 'M' || *end == 'm') value <<= 20;
    else if (*end == 'G' || *end == 'g') value <<= 30;
    return value;
}

static void fill(float *data, long count, int rank) {
    for (long i = 0; i < count; i++) data[i] = (float)((i * 7 + rank * 13) % 23 - 11);
}

static long count_wrong(const float *data, long count, int ranks) {
    long wrong = 0;
    for (long i = 0; i < count; i++) {
        long want = 0;
        for (int r = 0; r < ranks; r++) want += (i * 7 + r * 13) % 23 - 11;
        if (data[i] != (float)want) wrong++;
    }
    return wrong;
}

static double timed(float *send, float *recv, long count, int iterations, int warmup, int in_place, int ranks) {
    for (int i = 0; i < warmup; i++)
        MPI_Allreduce(in_place ? MPI_IN_PLACE : send, recv, (int)count, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
    MPI_Barrier(MPI_COMM_WORLD);
    double start = MPI_Wtime();
    for (int i = 0; i < iterations; i++)
        MPI_Allreduce(in_place ? MPI_IN_PLACE : send, recv, (int)count, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
    double mean = (MPI_Wtime() - start) / iterations, slowest;
    MPI_Allreduce(&mean, &slowest, 1, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD);
    (void)ranks;
    return slowest;
}

int main(int argc, char **argv) {
    MPI_Init(&argc, &argv);
    int rank, ranks;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &ranks);
    long min_bytes = 8, max_bytes = 64L << 20;
    int factor = 2, iterations = 20, warmup = 5;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "-b")) min_bytes = parse_size(argv[i + 1]);
        else if (!strcmp(argv[i], "-e")) max_bytes = parse_size(argv[i + 1]);
        else if (!strcmp(argv[i], "-f")) factor = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "-n")) iterations = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "-w")) warmup = atoi(argv[i + 1]);
    }
    float *send = malloc(max_bytes > 64 ? max_bytes : 64), *recv = malloc(max_bytes > 64 ? max_bytes : 64);
    memset(send, 0, max_bytes); memset(recv, 0, max_bytes);
    if (rank == 0) {
        printf("# openmpi all-reduce: %d ranks, float32 sum\n#\n", ranks);
        printf("#%12s%13s%9s%8s%6s%10s%8s%8s%7s%10s%8s%8s%7s\n", "size", "count", "type", "redop", "root",
               "time", "algbw", "busbw", "#wrong", "time", "algbw", "busbw", "#wrong");
    }
    for (long size = min_bytes < 4 ? 4 : min_bytes; size <= max_bytes; size *= factor) {
        long count = size / 4;
        double out = timed(send, recv, count, iterations, warmup, 0, ranks);
        double in = timed(send, recv, count, iterations, warmup, 1, ranks);
        fill(send, count, rank);
        MPI_Allreduce(send, recv, (int)count, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
        long wrong = count_wrong(recv, count, ranks), total;
        MPI_Allreduce(&wrong, &total, 1, MPI_LONG, MPI_SUM, MPI_COMM_WORLD);
        if (rank == 0) {
            double bus = 2.0 * (ranks - 1) / ranks;
            printf(" %12ld%13ld%9s%8s%6d%10.2f%8.2f%8.2f%7ld%10.2f%8.2f%8.2f%7ld\n", count * 4, count, "float32", "sum", -1,
                   out * 1e6, count * 4 / out / 1e9, count * 4 / out / 1e9 * bus, total,
                   in * 1e6, count * 4 / in / 1e9, count * 4 / in / 1e9 * bus, total);
            fflush(stdout);
        }
        if (size > max_bytes / factor) break;
    }
    free(send); free(recv);
    MPI_Finalize();
    return 0;
}
