// A fault-injecting SQLite VFS for tests: every call passes through to the default VFS, except file
// operations an armed fault matches, which fail with its error code and do nothing.
//
// Threads: SQLite calls a file's methods from whichever thread uses its connection (the store's
// writer and reader threads), and tests arm and disarm from theirs, so the fault state and
// counters are guarded by the instance's mutex.
#include "shim.h"

#include <pthread.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>

enum { operationKinds = 3, fileKinds = 4 };

struct CSQLiteFaultVFS {
    /// What SQLite sees; `base.pAppData` points back to this instance.
    sqlite3_vfs base;
    sqlite3_vfs *real;
    char *name;
    pthread_mutex_t mutex;
    int armed;
    int operations, files, skip, count, errorCode;
    long failures;
    long passed[operationKinds][fileKinds];
};

/// An open file: our header, then the real VFS's file object in the same allocation.
typedef struct {
    sqlite3_file base;
    CSQLiteFaultVFS *vfs;
    int kind;
    sqlite3_file *real;
} FaultFile;

static CSQLiteFaultVFS *instance(sqlite3_vfs *vfs) { return (CSQLiteFaultVFS *)vfs->pAppData; }
static sqlite3_file *real(sqlite3_file *file) { return ((FaultFile *)file)->real; }

static int bitIndex(int bit) {
    int index = 0;
    while (bit > 1) {
        bit >>= 1;
        index++;
    }
    return index;
}

/// The armed fault's error code if it hits `operation` on `file`, else SQLITE_OK (counted as passed).
static int fault(sqlite3_file *file, int operation) {
    FaultFile *f = (FaultFile *)file;
    CSQLiteFaultVFS *vfs = f->vfs;
    int rc = SQLITE_OK;
    pthread_mutex_lock(&vfs->mutex);
    if (vfs->armed && (vfs->operations & operation) && (vfs->files & f->kind)) {
        if (vfs->skip > 0) {
            vfs->skip--;
        } else if (vfs->count != 0) {
            if (vfs->count > 0) vfs->count--;
            vfs->failures++;
            rc = vfs->errorCode;
        }
    }
    if (rc == SQLITE_OK) vfs->passed[bitIndex(operation)][bitIndex(f->kind)]++;
    pthread_mutex_unlock(&vfs->mutex);
    return rc;
}

// MARK: File methods

static int faultClose(sqlite3_file *file) { return real(file)->pMethods->xClose(real(file)); }

static int faultRead(sqlite3_file *file, void *buffer, int amount, sqlite3_int64 offset) {
    int rc = fault(file, CSQLiteFaultVFS_read);
    if (rc != SQLITE_OK) return rc;
    return real(file)->pMethods->xRead(real(file), buffer, amount, offset);
}

static int faultWrite(sqlite3_file *file, const void *buffer, int amount, sqlite3_int64 offset) {
    int rc = fault(file, CSQLiteFaultVFS_write);
    if (rc != SQLITE_OK) return rc;
    return real(file)->pMethods->xWrite(real(file), buffer, amount, offset);
}

static int faultTruncate(sqlite3_file *file, sqlite3_int64 size) {
    return real(file)->pMethods->xTruncate(real(file), size);
}

static int faultSync(sqlite3_file *file, int flags) {
    int rc = fault(file, CSQLiteFaultVFS_sync);
    if (rc != SQLITE_OK) return rc;
    return real(file)->pMethods->xSync(real(file), flags);
}

static int faultFileSize(sqlite3_file *file, sqlite3_int64 *size) {
    return real(file)->pMethods->xFileSize(real(file), size);
}

static int faultLock(sqlite3_file *file, int lock) { return real(file)->pMethods->xLock(real(file), lock); }
static int faultUnlock(sqlite3_file *file, int lock) { return real(file)->pMethods->xUnlock(real(file), lock); }

static int faultCheckReservedLock(sqlite3_file *file, int *result) {
    return real(file)->pMethods->xCheckReservedLock(real(file), result);
}

static int faultFileControl(sqlite3_file *file, int operation, void *argument) {
    return real(file)->pMethods->xFileControl(real(file), operation, argument);
}

static int faultSectorSize(sqlite3_file *file) { return real(file)->pMethods->xSectorSize(real(file)); }

static int faultDeviceCharacteristics(sqlite3_file *file) {
    return real(file)->pMethods->xDeviceCharacteristics(real(file));
}

static int faultShmMap(sqlite3_file *file, int page, int pageSize, int extend, void volatile **memory) {
    return real(file)->pMethods->xShmMap(real(file), page, pageSize, extend, memory);
}

static int faultShmLock(sqlite3_file *file, int offset, int n, int flags) {
    return real(file)->pMethods->xShmLock(real(file), offset, n, flags);
}

static void faultShmBarrier(sqlite3_file *file) { real(file)->pMethods->xShmBarrier(real(file)); }

static int faultShmUnmap(sqlite3_file *file, int deleteFlag) {
    return real(file)->pMethods->xShmUnmap(real(file), deleteFlag);
}

static int faultFetch(sqlite3_file *file, sqlite3_int64 offset, int amount, void **pointer) {
    return real(file)->pMethods->xFetch(real(file), offset, amount, pointer);
}

static int faultUnfetch(sqlite3_file *file, sqlite3_int64 offset, void *pointer) {
    return real(file)->pMethods->xUnfetch(real(file), offset, pointer);
}

#define FAULT_METHODS_V1                                                                                       \
    faultClose, faultRead, faultWrite, faultTruncate, faultSync, faultFileSize, faultLock, faultUnlock,        \
        faultCheckReservedLock, faultFileControl, faultSectorSize, faultDeviceCharacteristics
#define FAULT_METHODS_V2 FAULT_METHODS_V1, faultShmMap, faultShmLock, faultShmBarrier, faultShmUnmap

/// One table per io_methods version, so a file never claims methods its real file lacks.
static const sqlite3_io_methods methodsV1 = {1, FAULT_METHODS_V1};
static const sqlite3_io_methods methodsV2 = {2, FAULT_METHODS_V2};
static const sqlite3_io_methods methodsV3 = {3, FAULT_METHODS_V2, faultFetch, faultUnfetch};

// MARK: VFS methods

static int kindOf(int flags) {
    if (flags & SQLITE_OPEN_MAIN_DB) return CSQLiteFaultVFS_database;
    if (flags & SQLITE_OPEN_WAL) return CSQLiteFaultVFS_wal;
    if (flags & SQLITE_OPEN_MAIN_JOURNAL) return CSQLiteFaultVFS_journal;
    return CSQLiteFaultVFS_otherFiles;
}

static int faultOpen(sqlite3_vfs *vfs, const char *name, sqlite3_file *file, int flags, int *outFlags) {
    FaultFile *f = (FaultFile *)file;
    f->vfs = instance(vfs);
    f->kind = kindOf(flags);
    f->real = (sqlite3_file *)(f + 1);
    sqlite3_vfs *realVFS = instance(vfs)->real;
    int rc = realVFS->xOpen(realVFS, name, f->real, flags, outFlags);
    // SQLite calls xClose exactly when pMethods is set, even after a failed open.
    const sqlite3_io_methods *methods = f->real->pMethods;
    if (methods == NULL) {
        file->pMethods = NULL;
    } else if (methods->iVersion >= 3) {
        file->pMethods = &methodsV3;
    } else if (methods->iVersion == 2) {
        file->pMethods = &methodsV2;
    } else {
        file->pMethods = &methodsV1;
    }
    return rc;
}

static int faultDelete(sqlite3_vfs *vfs, const char *name, int syncDirectory) {
    return instance(vfs)->real->xDelete(instance(vfs)->real, name, syncDirectory);
}

static int faultAccess(sqlite3_vfs *vfs, const char *name, int flags, int *result) {
    return instance(vfs)->real->xAccess(instance(vfs)->real, name, flags, result);
}

static int faultFullPathname(sqlite3_vfs *vfs, const char *name, int size, char *out) {
    return instance(vfs)->real->xFullPathname(instance(vfs)->real, name, size, out);
}

static void *faultDlOpen(sqlite3_vfs *vfs, const char *path) {
    return instance(vfs)->real->xDlOpen(instance(vfs)->real, path);
}

static void faultDlError(sqlite3_vfs *vfs, int size, char *message) {
    instance(vfs)->real->xDlError(instance(vfs)->real, size, message);
}

static void (*faultDlSym(sqlite3_vfs *vfs, void *handle, const char *symbol))(void) {
    return instance(vfs)->real->xDlSym(instance(vfs)->real, handle, symbol);
}

static void faultDlClose(sqlite3_vfs *vfs, void *handle) { instance(vfs)->real->xDlClose(instance(vfs)->real, handle); }

static int faultRandomness(sqlite3_vfs *vfs, int size, char *out) {
    return instance(vfs)->real->xRandomness(instance(vfs)->real, size, out);
}

static int faultSleep(sqlite3_vfs *vfs, int microseconds) {
    return instance(vfs)->real->xSleep(instance(vfs)->real, microseconds);
}

static int faultCurrentTime(sqlite3_vfs *vfs, double *now) {
    return instance(vfs)->real->xCurrentTime(instance(vfs)->real, now);
}

static int faultGetLastError(sqlite3_vfs *vfs, int size, char *message) {
    return instance(vfs)->real->xGetLastError(instance(vfs)->real, size, message);
}

static int faultCurrentTimeInt64(sqlite3_vfs *vfs, sqlite3_int64 *now) {
    return instance(vfs)->real->xCurrentTimeInt64(instance(vfs)->real, now);
}

static int faultSetSystemCall(sqlite3_vfs *vfs, const char *name, sqlite3_syscall_ptr call) {
    return instance(vfs)->real->xSetSystemCall(instance(vfs)->real, name, call);
}

static sqlite3_syscall_ptr faultGetSystemCall(sqlite3_vfs *vfs, const char *name) {
    return instance(vfs)->real->xGetSystemCall(instance(vfs)->real, name);
}

static const char *faultNextSystemCall(sqlite3_vfs *vfs, const char *name) {
    return instance(vfs)->real->xNextSystemCall(instance(vfs)->real, name);
}

// MARK: Control

CSQLiteFaultVFS *CSQLiteFaultVFS_create(const char *name) {
    if (sqlite3_initialize() != SQLITE_OK) return NULL;
    sqlite3_vfs *realVFS = sqlite3_vfs_find(NULL);
    if (realVFS == NULL || sqlite3_vfs_find(name) != NULL) return NULL;
    CSQLiteFaultVFS *vfs = calloc(1, sizeof(CSQLiteFaultVFS));
    if (vfs == NULL) return NULL;
    vfs->name = strdup(name);
    if (vfs->name == NULL) {
        free(vfs);
        return NULL;
    }
    vfs->real = realVFS;
    pthread_mutex_init(&vfs->mutex, NULL);
    sqlite3_vfs *base = &vfs->base;
    base->iVersion = realVFS->iVersion < 3 ? realVFS->iVersion : 3;
    base->szOsFile = (int)sizeof(FaultFile) + realVFS->szOsFile;
    base->mxPathname = realVFS->mxPathname;
    base->zName = vfs->name;
    base->pAppData = vfs;
    base->xOpen = faultOpen;
    base->xDelete = faultDelete;
    base->xAccess = faultAccess;
    base->xFullPathname = faultFullPathname;
    base->xDlOpen = faultDlOpen;
    base->xDlError = faultDlError;
    base->xDlSym = faultDlSym;
    base->xDlClose = faultDlClose;
    base->xRandomness = faultRandomness;
    base->xSleep = faultSleep;
    base->xCurrentTime = faultCurrentTime;
    base->xGetLastError = faultGetLastError;
    if (base->iVersion >= 2) base->xCurrentTimeInt64 = faultCurrentTimeInt64;
    if (base->iVersion >= 3) {
        base->xSetSystemCall = faultSetSystemCall;
        base->xGetSystemCall = faultGetSystemCall;
        base->xNextSystemCall = faultNextSystemCall;
    }
    if (sqlite3_vfs_register(base, 0) != SQLITE_OK) {
        pthread_mutex_destroy(&vfs->mutex);
        free(vfs->name);
        free(vfs);
        return NULL;
    }
    return vfs;
}

void CSQLiteFaultVFS_unregister(CSQLiteFaultVFS *vfs) { sqlite3_vfs_unregister(&vfs->base); }

void CSQLiteFaultVFS_arm(CSQLiteFaultVFS *vfs, int operations, int files, int skip, int count, int errorCode) {
    pthread_mutex_lock(&vfs->mutex);
    vfs->armed = 1;
    vfs->operations = operations;
    vfs->files = files;
    vfs->skip = skip;
    vfs->count = count;
    vfs->errorCode = errorCode;
    pthread_mutex_unlock(&vfs->mutex);
}

void CSQLiteFaultVFS_disarm(CSQLiteFaultVFS *vfs) {
    pthread_mutex_lock(&vfs->mutex);
    vfs->armed = 0;
    pthread_mutex_unlock(&vfs->mutex);
}

long CSQLiteFaultVFS_failures(CSQLiteFaultVFS *vfs) {
    pthread_mutex_lock(&vfs->mutex);
    long failures = vfs->failures;
    pthread_mutex_unlock(&vfs->mutex);
    return failures;
}

long CSQLiteFaultVFS_passed(CSQLiteFaultVFS *vfs, int operations, int files) {
    long total = 0;
    pthread_mutex_lock(&vfs->mutex);
    for (int operation = 0; operation < operationKinds; operation++) {
        if (!(operations & (1 << operation))) continue;
        for (int file = 0; file < fileKinds; file++) {
            if (files & (1 << file)) total += vfs->passed[operation][file];
        }
    }
    pthread_mutex_unlock(&vfs->mutex);
    return total;
}
