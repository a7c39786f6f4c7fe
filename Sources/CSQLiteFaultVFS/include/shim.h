#ifndef CSQLITEFAULTVFS_SHIM_H
#define CSQLITEFAULTVFS_SHIM_H

/// A SQLite VFS for tests that wraps the default VFS and fails chosen file operations on demand, so
/// that tests can watch the store handle a full disk, a failed write or a failed fsync where SQLite
/// would see them. Every file operation passes through to the default VFS unless an armed fault
/// matches it. Each instance has its own name and fault, so tests using different instances may
/// run at the same time.

/// Operations a fault can hit.
enum {
    CSQLiteFaultVFS_write = 1,
    CSQLiteFaultVFS_sync = 2,
    CSQLiteFaultVFS_read = 4,
};

/// Files a fault can hit (SQLite's kinds of files).
enum {
    CSQLiteFaultVFS_database = 1,
    CSQLiteFaultVFS_wal = 2,
    CSQLiteFaultVFS_journal = 4,
    CSQLiteFaultVFS_otherFiles = 8,
};

typedef struct CSQLiteFaultVFS CSQLiteFaultVFS;

/// Registers a new VFS named `name` (not the default) wrapping the current default VFS. NULL if the
/// name is taken or memory runs out. The instance is never freed (a test makes a few), so a
/// connection left open by a failing test can never reach freed memory.
CSQLiteFaultVFS *CSQLiteFaultVFS_create(const char *name);

/// Unregisters the instance: new connections can no longer name it; open ones keep working.
void CSQLiteFaultVFS_unregister(CSQLiteFaultVFS *vfs);

/// Arms the fault: of the operations in `operations` on files of the kinds in `files`, the first
/// `skip` pass, then the next `count` (every one, for a negative `count`) fail with `errorCode`
/// (an SQLite result code such as SQLITE_FULL or SQLITE_IOERR_FSYNC). Replaces any earlier fault.
void CSQLiteFaultVFS_arm(CSQLiteFaultVFS *vfs, int operations, int files, int skip, int count, int errorCode);

/// Disarms the fault: every operation passes through again.
void CSQLiteFaultVFS_disarm(CSQLiteFaultVFS *vfs);

/// How many operations the fault has failed since the instance was created.
long CSQLiteFaultVFS_failures(CSQLiteFaultVFS *vfs);

/// How many operations of the kinds in `operations` on files of the kinds in `files` passed through
/// since the instance was created (to check that a test's load really reached the disk).
long CSQLiteFaultVFS_passed(CSQLiteFaultVFS *vfs, int operations, int files);

#endif
