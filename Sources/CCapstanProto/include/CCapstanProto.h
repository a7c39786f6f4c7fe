#ifndef CCAPSTANPROTO_H
#define CCAPSTANPROTO_H

// protoc-c's output for every schema in proto/ (see capstan_generated.h, written by `make proto`),
// and the arena the Swift wire layer allocates protobuf-c structs from.
#include "capstan_arena.h"
#include "capstan_generated.h"

#endif
