#ifndef CAPSTAN_ARENA_H
#define CAPSTAN_ARENA_H

#include <stddef.h>
#include <protobuf-c/protobuf-c.h>

/// A bump allocator for one encode or decode: every protobuf-c struct, string and array of one
/// message tree comes from it, and all of it is released at once by capstan_arena_free.
/// Not thread-safe: one arena belongs to one call on one thread.
typedef struct CapstanArena CapstanArena;

/// A new arena whose first chunk holds `initial` bytes; NULL when out of memory.
CapstanArena *capstan_arena_new(size_t initial);

/// `size` bytes aligned for any type; NULL when out of memory.
void *capstan_arena_alloc(CapstanArena *arena, size_t size);

/// Releases every chunk but the first, and empties the first, for reuse.
void capstan_arena_reset(CapstanArena *arena);

/// Releases the arena and everything allocated from it.
void capstan_arena_free(CapstanArena *arena);

/// An empty arena of at least `initial` bytes for one call on this thread: the one the thread's
/// last call gave back when it is big enough, else a new one; NULL when out of memory. Hand it
/// back with capstan_arena_give (or release it with capstan_arena_free).
CapstanArena *capstan_arena_take(size_t initial);

/// Empties `arena` and keeps it for the calling thread's next capstan_arena_take (grown to hold
/// in one chunk what this call needed), or frees it when the thread already keeps one or it is
/// over 64 KiB. The kept arena is freed when the thread exits.
void capstan_arena_give(CapstanArena *arena);

/// A protobuf-c allocator that allocates from the arena and never frees (the arena does).
ProtobufCAllocator *capstan_arena_allocator(CapstanArena *arena);

/// Bytes handed out so far (for tests and benchmarks).
size_t capstan_arena_used(const CapstanArena *arena);

/// Records that a string copied into the arena for encoding held a NUL byte, so protobuf-c's
/// encoding (which takes strings as C strings) cuts it there. Cleared by reset.
void capstan_arena_note_cut_string(CapstanArena *arena);

/// Whether capstan_arena_note_cut_string was called since the arena was made or reset.
int capstan_arena_cut_string(const CapstanArena *arena);

#endif
