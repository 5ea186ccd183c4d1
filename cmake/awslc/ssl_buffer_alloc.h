/*
 * ssl_buffer_alloc.h - included first in AWS-LC's ssl/ssl_buffer.cc only
 * (cmake/awslc.cmake): its TLS record buffers come from tlsgate's
 * per-thread buffer cache (common/bufcache.h), not a malloc and free per
 * record read. That file calls malloc and free for those buffers and
 * nothing else.
 *
 * The C and C++ headers are read here first, under their own names; only
 * the file's own text (and AWS-LC's headers, which never call the two)
 * then sees the macros.
 */
#include <stdlib.h>
#include <string.h>

#include <algorithm>
#include <atomic>
#include <bitset>
#include <cstdlib>
#include <cstring>
#include <initializer_list>
#include <limits>
#include <memory>
#include <new>
#include <type_traits>
#include <utility>

extern "C" void	*bufcache_tls_malloc(size_t n);
extern "C" void	 bufcache_tls_free(void *p);

#define malloc	bufcache_tls_malloc
#define free	bufcache_tls_free
