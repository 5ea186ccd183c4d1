/*
 * fnv.h - FNV-1a, the string hash of tlsgate's small hash tables (not for
 * anything an attacker must not collide: those tables bound their chains
 * or their probes). Pure functions; any thread.
 */
#ifndef TLSGATE_FNV_H
#define TLSGATE_FNV_H

#include <stddef.h>
#include <stdint.h>

/* 32-bit FNV-1a of n bytes. */
static inline uint32_t
fnv1a32(const void *p, size_t n)
{
	const unsigned char	*s = p;
	uint32_t		 h = 2166136261u;

	for (size_t i = 0; i < n; i++)
		h = (h ^ s[i]) * 16777619u;
	return h;
}

/* 64-bit FNV-1a of n bytes. */
static inline uint64_t
fnv1a64(const void *p, size_t n)
{
	const unsigned char	*s = p;
	uint64_t		 h = 1469598103934665603ull;

	for (size_t i = 0; i < n; i++)
		h = (h ^ s[i]) * 1099511628211ull;
	return h;
}

#endif
