/*
 * shm_producer.c - a complete producer for MeasureApp's SharedMemory driver, layout v1
 * (docs/shared-memory.md). It creates the ring file, waits for start commands from the
 * engine and writes one record per sample for each started measurement, paced in real time.
 *
 *   gcc -O2 -o shm_producer docs/examples/shm_producer.c -lm
 *   ./shm_producer --path /dev/shm/measureapp-adc0
 *
 * Options:
 *   --path FILE        ring file (default /dev/shm/measureapp-shm)
 *   --capacity N       data ring records, power of two (default 65536)
 *   --commands N       command ring entries, power of two (default 64)
 *   --pattern P        sine (default) or ramp: value = sample_counter + 0.25 * channel
 *   --max-seconds S    exit after S seconds (default 0 = run until SIGINT/SIGTERM)
 *   --exit-on-stop     exit after the first stop command of a measurement it produced for
 *
 * It prints "ready <path> generation <g>" once the ring is initialised, "start <id> ..."
 * and "stop <id> records <n>" for each command, on stdout (line buffered).
 *
 * Only C11 + POSIX; atomics are the GCC/Clang __atomic builtins. Little-endian hosts only.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#if !defined(__BYTE_ORDER__) || __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "The layout is little-endian; this producer stores fields in host order."
#endif

/* ---- layout v1: every offset is in docs/shared-memory.md ---- */
#define SHM_MAGIC 0x4D48534Du /* "MSHM" */
#define SHM_VERSION 1u
#define HEADER_SIZE 4096u
#define RECORD_SIZE 128u
#define COMMAND_SIZE 64u

/* header */
#define H_MAGIC 0
#define H_VERSION 4
#define H_HEADER_SIZE 8
#define H_FLAGS 12
#define H_CAPACITY 16
#define H_RECORD_SIZE 20
#define H_DATA_OFFSET 24
#define H_COMMAND_CAPACITY 32
#define H_COMMAND_SIZE 36
#define H_COMMAND_OFFSET 40
#define H_FILE_SIZE 48
#define H_GENERATION 56
#define H_WRITE_INDEX 64
#define H_PRODUCER_HEARTBEAT 72
#define H_OVERRUNS 80
#define H_PRODUCER_PID 88
#define H_READ_INDEX 128
#define H_CONSUMER_HEARTBEAT 136
#define H_COMMAND_WRITE_INDEX 192
#define H_COMMAND_READ_INDEX 256

/* record */
#define R_SEQUENCE 0
#define R_MEASUREMENT_ID 8
#define R_USER_TAG 24
#define R_TIMESTAMP_NS 32
#define R_SAMPLE_COUNTER 40
#define R_CHANNEL_COUNT 48
#define R_FLAGS 52
#define R_VALUES 56
#define R_RESERVED 120
#define R_CHECKSUM 124

/* command */
#define C_SEQUENCE 0
#define C_TYPE 8
#define C_CHANNEL_COUNT 12
#define C_MEASUREMENT_ID 16
#define C_USER_TAG 32
#define C_SAMPLE_RATE 40
#define C_ISSUED_AT_NS 48
#define C_CHECKSUM 60

#define CMD_START 1u
#define CMD_STOP 2u
#define MAX_MEASUREMENTS 16
#define MAX_CHANNELS 8

static uint8_t *base;
static uint32_t capacity = 65536, command_capacity = 64;
static uint64_t data_offset, command_offset, file_size;

/* plain little-endian field access (the host is little-endian) */
static inline void put32(uint8_t *p, uint32_t v) { memcpy(p, &v, 4); }
static inline void put64(uint8_t *p, uint64_t v) { memcpy(p, &v, 8); }
static inline void putf64(uint8_t *p, double v) { memcpy(p, &v, 8); }
static inline uint32_t get32(const uint8_t *p) { uint32_t v; memcpy(&v, p, 4); return v; }
static inline uint64_t get64(const uint8_t *p) { uint64_t v; memcpy(&v, p, 8); return v; }
static inline double getf64(const uint8_t *p) { double v; memcpy(&v, p, 8); return v; }

/* shared indices: 8-byte aligned, acquire/release as the document requires */
static inline uint64_t load_acquire(uint32_t off) { return __atomic_load_n((uint64_t *)(base + off), __ATOMIC_ACQUIRE); }
static inline void store_release(uint32_t off, uint64_t v) { __atomic_store_n((uint64_t *)(base + off), v, __ATOMIC_RELEASE); }

/* CRC-32C (Castagnoli), reflected 0x82F63B78, init and final xor 0xFFFFFFFF */
static uint32_t crc_table[256];
static void crc_init(void) {
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++) c = (c & 1) ? 0x82F63B78u ^ (c >> 1) : c >> 1;
        crc_table[i] = c;
    }
}
static uint32_t crc32c(const uint8_t *p, size_t n) {
    uint32_t c = 0xFFFFFFFFu;
    while (n--) c = crc_table[(c ^ *p++) & 0xFF] ^ (c >> 8);
    return ~c;
}

static uint64_t now_ns(clockid_t clock) {
    struct timespec ts;
    clock_gettime(clock, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

struct measurement {
    int active;
    uint8_t id[16];       /* as received: RFC 9562 byte order */
    uint64_t user_tag;    /* as received: copied into every record */
    uint32_t channels;
    double rate;
    uint64_t start_mono_ns, start_real_ns;
    uint64_t counter;     /* next sample counter, from 0 */
    uint64_t records;     /* records written */
};
static struct measurement ms[MAX_MEASUREMENTS];

static uint64_t write_index;   /* private copy of H_WRITE_INDEX */
static uint64_t command_read;  /* private copy of H_COMMAND_READ_INDEX */
static int pattern_ramp;
static volatile sig_atomic_t stop_requested;

static void on_signal(int sig) { (void)sig; stop_requested = 1; }

static void format_id(const uint8_t *id, char *out) {
    static const char hex[] = "0123456789abcdef";
    int j = 0;
    for (int i = 0; i < 16; i++) {
        if (i == 4 || i == 6 || i == 8 || i == 10) out[j++] = '-';
        out[j++] = hex[id[i] >> 4];
        out[j++] = hex[id[i] & 15];
    }
    out[j] = 0;
}

/* Create or reuse the file. Never shrink a file in place: a consumer that maps it would fault. */
static int open_ring(const char *path) {
    int fd = open(path, O_RDWR | O_CREAT, 0660);
    if (fd < 0) return -1;
    struct stat st;
    if (fstat(fd, &st) != 0) return -1;
    if (st.st_size != 0 && (uint64_t)st.st_size != file_size) {
        /* Different size: replace the file (the consumer notices the new inode and generation). */
        close(fd);
        if (unlink(path) != 0) return -1;
        fd = open(path, O_RDWR | O_CREAT | O_EXCL, 0660);
        if (fd < 0) return -1;
    }
    if (ftruncate(fd, (off_t)file_size) != 0) return -1;
    base = mmap(NULL, file_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    close(fd);
    return base == MAP_FAILED ? -1 : 0;
}

static void init_header(const char *path) {
    /* A previous producer's generation, if the file held a valid header. */
    uint64_t previous = get32(base + H_MAGIC) == SHM_MAGIC ? get64(base + H_GENERATION) : 0;
    /* 1. magic 0 first, then a full fence: consumers see "re-initialising" before anything else changes. */
    __atomic_store_n((uint32_t *)(base + H_MAGIC), 0u, __ATOMIC_SEQ_CST);
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
    /* 2. clear everything (stale records from an earlier generation must not look valid). */
    memset(base + 4, 0, file_size - 4);
    /* 3. the fields, with a generation that differs from the previous one and is never 0. */
    uint64_t generation = now_ns(CLOCK_REALTIME);
    if (generation == previous || generation == 0) generation = previous + 1;
    put32(base + H_VERSION, SHM_VERSION);
    put32(base + H_HEADER_SIZE, HEADER_SIZE);
    put32(base + H_FLAGS, 0);
    put32(base + H_CAPACITY, capacity);
    put32(base + H_RECORD_SIZE, RECORD_SIZE);
    put64(base + H_DATA_OFFSET, data_offset);
    put32(base + H_COMMAND_CAPACITY, command_capacity);
    put32(base + H_COMMAND_SIZE, COMMAND_SIZE);
    put64(base + H_COMMAND_OFFSET, command_offset);
    put64(base + H_FILE_SIZE, file_size);
    put64(base + H_GENERATION, generation);
    put64(base + H_PRODUCER_PID, (uint64_t)getpid());
    store_release(H_PRODUCER_HEARTBEAT, now_ns(CLOCK_MONOTONIC));
    /* 4. magic last, with release: a consumer that sees it sees every field above. */
    __atomic_store_n((uint32_t *)(base + H_MAGIC), SHM_MAGIC, __ATOMIC_RELEASE);
    write_index = 0;
    command_read = 0;
    printf("ready %s generation %llu\n", path, (unsigned long long)generation);
}

/* One record; returns 0 when the ring is full (the record is dropped and counted). */
static int write_record(struct measurement *m, uint64_t counter) {
    uint64_t read = load_acquire(H_READ_INDEX);
    if (write_index - read >= capacity) {
        /* Never overwrite unread records: drop, count, and let the sample counter show the gap. */
        store_release(H_OVERRUNS, load_acquire(H_OVERRUNS) + 1);
        return 0;
    }
    uint8_t r[RECORD_SIZE];
    memset(r, 0, sizeof r);
    uint64_t sequence = write_index + 1;
    put64(r + R_SEQUENCE, sequence);
    memcpy(r + R_MEASUREMENT_ID, m->id, 16);
    put64(r + R_USER_TAG, m->user_tag);
    put64(r + R_TIMESTAMP_NS, m->start_real_ns + (uint64_t)((double)counter * 1e9 / m->rate));
    put64(r + R_SAMPLE_COUNTER, counter);
    put32(r + R_CHANNEL_COUNT, m->channels);
    put32(r + R_FLAGS, 0);
    for (uint32_t c = 0; c < m->channels; c++) {
        double v = pattern_ramp
            ? (double)counter + 0.25 * c
            : (c + 1) * sin(2 * M_PI * (c + 1) * (double)counter / m->rate);
        putf64(r + R_VALUES + 8 * c, v);
    }
    put32(r + R_CHECKSUM, crc32c(r, R_CHECKSUM));
    uint8_t *slot = base + data_offset + (write_index & (capacity - 1)) * RECORD_SIZE;
    /* Payload first, the sequence (commit marker) last with release. */
    memcpy(slot + 8, r + 8, RECORD_SIZE - 8);
    __atomic_store_n((uint64_t *)slot, sequence, __ATOMIC_RELEASE);
    write_index++;
    m->records++;
    return 1;
}

static struct measurement *find(const uint8_t *id) {
    for (int i = 0; i < MAX_MEASUREMENTS; i++)
        if (ms[i].active && memcmp(ms[i].id, id, 16) == 0) return &ms[i];
    return NULL;
}

/* Reads new commands; returns 1 when --exit-on-stop should end the program. */
static int read_commands(int exit_on_stop) {
    int exit_now = 0;
    uint64_t written = load_acquire(H_COMMAND_WRITE_INDEX);
    if (written < command_read || written - command_read > command_capacity) {
        /* An engine that restarted may continue from our read index; anything else is skipped. */
        command_read = written;
        store_release(H_COMMAND_READ_INDEX, command_read);
        return 0;
    }
    while (command_read < written) {
        uint8_t *slot = base + command_offset + (command_read & (command_capacity - 1)) * COMMAND_SIZE;
        uint8_t c[COMMAND_SIZE];
        uint64_t sequence = __atomic_load_n((uint64_t *)slot, __ATOMIC_ACQUIRE);
        memcpy(c, slot, COMMAND_SIZE);
        command_read++;
        if (sequence != command_read || get64(c + C_SEQUENCE) != command_read || crc32c(c, C_CHECKSUM) != get32(c + C_CHECKSUM)) {
            fprintf(stderr, "command %llu is corrupt; skipped\n", (unsigned long long)(command_read - 1));
            continue;
        }
        char text[37];
        format_id(c + C_MEASUREMENT_ID, text);
        uint32_t type = get32(c + C_TYPE);
        if (type == CMD_START) {
            uint32_t channels = get32(c + C_CHANNEL_COUNT);
            double rate = getf64(c + C_SAMPLE_RATE);
            struct measurement *m = find(c + C_MEASUREMENT_ID);
            if (channels < 1 || channels > MAX_CHANNELS || !(rate > 0 && rate <= 1e7)) {
                fprintf(stderr, "start %s: impossible channels %u or rate %g; ignored\n", text, channels, rate);
                continue;
            }
            if (m == NULL) {
                for (int i = 0; i < MAX_MEASUREMENTS && m == NULL; i++)
                    if (!ms[i].active) m = &ms[i];
            }
            if (m == NULL) {
                fprintf(stderr, "start %s: too many measurements; ignored\n", text);
                continue;
            }
            memset(m, 0, sizeof *m);
            m->active = 1;
            memcpy(m->id, c + C_MEASUREMENT_ID, 16);
            m->user_tag = get64(c + C_USER_TAG);
            m->channels = channels;
            m->rate = rate;
            m->start_mono_ns = now_ns(CLOCK_MONOTONIC);
            m->start_real_ns = now_ns(CLOCK_REALTIME);
            printf("start %s channels %u rate %g\n", text, channels, rate);
        } else if (type == CMD_STOP) {
            struct measurement *m = find(c + C_MEASUREMENT_ID);
            if (m != NULL) {
                printf("stop %s records %llu\n", text, (unsigned long long)m->records);
                m->active = 0;
                if (exit_on_stop) exit_now = 1;
            }
        } else {
            fprintf(stderr, "command type %u unknown; skipped\n", type);
        }
    }
    store_release(H_COMMAND_READ_INDEX, command_read);
    return exit_now;
}

int main(int argc, char **argv) {
    const char *path = "/dev/shm/measureapp-shm";
    double max_seconds = 0;
    int exit_on_stop = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--path") && i + 1 < argc) path = argv[++i];
        else if (!strcmp(argv[i], "--capacity") && i + 1 < argc) capacity = (uint32_t)strtoul(argv[++i], NULL, 10);
        else if (!strcmp(argv[i], "--commands") && i + 1 < argc) command_capacity = (uint32_t)strtoul(argv[++i], NULL, 10);
        else if (!strcmp(argv[i], "--pattern") && i + 1 < argc) pattern_ramp = !strcmp(argv[++i], "ramp");
        else if (!strcmp(argv[i], "--max-seconds") && i + 1 < argc) max_seconds = atof(argv[++i]);
        else if (!strcmp(argv[i], "--exit-on-stop")) exit_on_stop = 1;
        else { fprintf(stderr, "unknown option %s\n", argv[i]); return 2; }
    }
    if (capacity < 16 || capacity > (1u << 24) || (capacity & (capacity - 1)) ||
        command_capacity < 4 || command_capacity > 65536 || (command_capacity & (command_capacity - 1))) {
        fprintf(stderr, "capacity must be a power of two in 16..16777216, commands in 4..65536\n");
        return 2;
    }
    data_offset = HEADER_SIZE;
    command_offset = data_offset + (uint64_t)capacity * RECORD_SIZE;
    file_size = command_offset + (uint64_t)command_capacity * COMMAND_SIZE;

    setvbuf(stdout, NULL, _IOLBF, 0);
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    crc_init();
    if (open_ring(path) != 0) {
        fprintf(stderr, "%s: %s\n", path, strerror(errno));
        return 1;
    }
    init_header(path);

    uint64_t started = now_ns(CLOCK_MONOTONIC);
    int exit_now = 0;
    while (!stop_requested && !exit_now) {
        uint64_t now = now_ns(CLOCK_MONOTONIC);
        if (max_seconds > 0 && (double)(now - started) / 1e9 >= max_seconds) break;
        store_release(H_PRODUCER_HEARTBEAT, now);
        exit_now = read_commands(exit_on_stop);

        uint64_t before = write_index;
        for (int i = 0; i < MAX_MEASUREMENTS; i++) {
            struct measurement *m = &ms[i];
            if (!m->active) continue;
            uint64_t due = (uint64_t)((double)(now - m->start_mono_ns) / 1e9 * m->rate);
            /* Bounded catch-up after a stall: at most one second of samples per pass. */
            uint64_t limit = m->counter + (uint64_t)m->rate;
            if (due > limit) due = limit;
            for (; m->counter < due; m->counter++) write_record(m, m->counter);
        }
        /* Publish all records of this pass at once (release). */
        if (write_index != before) store_release(H_WRITE_INDEX, write_index);

        struct timespec pause = {0, 1000000}; /* 1 ms */
        nanosleep(&pause, NULL);
    }
    for (int i = 0; i < MAX_MEASUREMENTS; i++) {
        if (ms[i].active) {
            char text[37];
            format_id(ms[i].id, text);
            printf("end %s records %llu\n", text, (unsigned long long)ms[i].records);
        }
    }
    printf("overruns %llu\n", (unsigned long long)load_acquire(H_OVERRUNS));
    munmap(base, file_size);
    return 0;
}
