#include "capstan_arena.h"

#include <pthread.h>
#include <stdalign.h>
#include <stdint.h>
#include <stdlib.h>

typedef struct Chunk {
    struct Chunk *next;
    size_t size;
    size_t used;
    alignas(max_align_t) unsigned char data[];
} Chunk;

struct CapstanArena {
    Chunk *head;       // the chunk being filled; its `next` chain ends at `first`
    Chunk *first;      // allocated with the arena, kept by reset
    size_t total;
    int cut_string;    // a string copied for encoding held a NUL (capstan_arena_note_cut_string)
    ProtobufCAllocator allocator;
};

static void *arena_alloc_cb(void *data, size_t size) {
    return capstan_arena_alloc((CapstanArena *)data, size);
}

static void arena_free_cb(void *data, void *pointer) {
    (void)data;
    (void)pointer;
}

static Chunk *chunk_new(size_t size) {
    Chunk *chunk = malloc(sizeof(Chunk) + size);
    if (chunk == NULL) return NULL;
    chunk->next = NULL;
    chunk->size = size;
    chunk->used = 0;
    return chunk;
}

CapstanArena *capstan_arena_new(size_t initial) {
    if (initial < 256) initial = 256;
    CapstanArena *arena = malloc(sizeof(CapstanArena));
    if (arena == NULL) return NULL;
    arena->first = chunk_new(initial);
    if (arena->first == NULL) {
        free(arena);
        return NULL;
    }
    arena->head = arena->first;
    arena->total = 0;
    arena->cut_string = 0;
    arena->allocator.alloc = arena_alloc_cb;
    arena->allocator.free = arena_free_cb;
    arena->allocator.allocator_data = arena;
    return arena;
}

void *capstan_arena_alloc(CapstanArena *arena, size_t size) {
    const size_t align = alignof(max_align_t);
    if (size > SIZE_MAX - align) return NULL;
    size_t rounded = (size + align - 1) & ~(align - 1);
    if (rounded == 0) rounded = align;
    Chunk *head = arena->head;
    if (head->size - head->used < rounded) {
        size_t next = head->size * 2;
        if (next < rounded) next = rounded;
        Chunk *chunk = chunk_new(next);
        if (chunk == NULL) return NULL;
        chunk->next = head;
        arena->head = chunk;
        head = chunk;
    }
    void *result = head->data + head->used;
    head->used += rounded;
    arena->total += size;
    return result;
}

void capstan_arena_reset(CapstanArena *arena) {
    Chunk *chunk = arena->head;
    while (chunk != arena->first) {
        Chunk *next = chunk->next;
        free(chunk);
        chunk = next;
    }
    arena->head = arena->first;
    arena->first->used = 0;
    arena->total = 0;
    arena->cut_string = 0;
}

void capstan_arena_free(CapstanArena *arena) {
    if (arena == NULL) return;
    capstan_arena_reset(arena);
    free(arena->first);
    free(arena);
}

ProtobufCAllocator *capstan_arena_allocator(CapstanArena *arena) {
    return &arena->allocator;
}

size_t capstan_arena_used(const CapstanArena *arena) {
    return arena->total;
}

void capstan_arena_note_cut_string(CapstanArena *arena) {
    arena->cut_string = 1;
}

int capstan_arena_cut_string(const CapstanArena *arena) {
    return arena->cut_string;
}

// MARK: - One cached arena per thread

/// The largest first chunk a thread keeps between calls; bigger arenas are freed after use.
#define CAPSTAN_ARENA_KEEP_MAX ((size_t)64 * 1024)

static pthread_key_t cached_key;
static pthread_once_t cached_once = PTHREAD_ONCE_INIT;

static void cached_destroy(void *arena) {
    capstan_arena_free((CapstanArena *)arena);
}

static void cached_key_create(void) {
    (void)pthread_key_create(&cached_key, cached_destroy);
}

CapstanArena *capstan_arena_take(size_t initial) {
    pthread_once(&cached_once, cached_key_create);
    CapstanArena *arena = pthread_getspecific(cached_key);
    if (arena != NULL) {
        (void)pthread_setspecific(cached_key, NULL);
        if (arena->first->size >= initial) return arena;
        capstan_arena_free(arena);
    }
    return capstan_arena_new(initial);
}

void capstan_arena_give(CapstanArena *arena) {
    if (arena == NULL) return;
    // Capacity the call needed: with several chunks, one first chunk that holds them all, so
    // the next call of the same size allocates nothing.
    size_t capacity = 0;
    for (Chunk *chunk = arena->head; chunk != NULL; chunk = chunk->next) {
        capacity += chunk->size;
    }
    if (capacity > CAPSTAN_ARENA_KEEP_MAX || pthread_getspecific(cached_key) != NULL) {
        capstan_arena_free(arena);
        return;
    }
    int several = arena->head != arena->first;
    capstan_arena_reset(arena);
    if (several) {
        Chunk *bigger = chunk_new(capacity);
        if (bigger == NULL) {
            capstan_arena_free(arena);
            return;
        }
        free(arena->first);
        arena->first = bigger;
        arena->head = bigger;
    }
    if (pthread_setspecific(cached_key, arena) != 0) capstan_arena_free(arena);
}
