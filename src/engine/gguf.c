/*
 * gguf.c - a validating, mmap-based reader for GGUF v2/v3 files.
 *
 * Layout of a GGUF file (all numbers little-endian):
 *
 *   u32 magic "GGUF", u32 version, u64 n_tensors, u64 n_kv
 *   n_kv x { string key, u32 value type, value }
 *   n_tensors x { string name, u32 n_dims, n_dims x u64 ne, u32 type,
 *                 u64 offset }
 *   padding up to general.alignment (default 32)
 *   data section: tensor data at the given offsets
 *
 * where a string is a u64 length followed by that many bytes, and an array
 * value is a u32 element type, a u64 count and the packed elements.
 *
 * Every number taken from the file is checked before it is used: counts
 * against the bytes that remain (so a huge count fails before anything is
 * allocated for it), lengths against limits and the end of the file,
 * arithmetic for overflow. Key and tensor-name uniqueness use hash tables
 * so that a hostile file cannot make parsing quadratic.
 */
#include "gguf.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "llm_util.h"

#define GGUF_MAGIC			0x46554747u		/* "GGUF" read little-endian */
#define GGUF_DEFAULT_ALIGN	32u
#define GGUF_MAX_KEY		65535u		/* the format's limit on key length */
#define GGUF_MAX_NAME		256u		/* tensor name length cap */

/* smallest encoding of one KV pair: key length, value type, 1-byte value */
#define GGUF_MIN_KV_BYTES	(8 + 4 + 1)
/* smallest tensor info: name length, n_dims, one dim, type, offset */
#define GGUF_MIN_TI_BYTES	(8 + 4 + 8 + 4 + 8)

struct gguf_file
{
	const uint8_t *base;		/* start of the image */
	size_t		size;			/* bytes in the image */
	bool		mapped;			/* base came from mmap() */
	uint32_t	version;
	uint32_t	alignment;
	size_t		data_start;		/* offset of the data section */

	uint64_t	n_kv;
	gguf_kv    *kvs;
	size_t	   *kv_hash;		/* open addressing: index + 1, 0 = empty */
	size_t		kv_hash_cap;

	uint64_t	n_tensors;
	gguf_tensor *tensors;
	size_t	   *t_hash;
	size_t		t_hash_cap;
};

/* A cursor over the image. */
typedef struct gguf_reader
{
	const uint8_t *p;
	size_t		size;
	size_t		pos;
} gguf_reader;

/* Byte size of one element of a fixed-size value type; 0 for others. */
static const uint8_t gguf_vtype_size[GGUF_VTYPE_COUNT] = {
	[GGUF_UINT8] = 1, [GGUF_INT8] = 1, [GGUF_UINT16] = 2, [GGUF_INT16] = 2,
	[GGUF_UINT32] = 4, [GGUF_INT32] = 4, [GGUF_FLOAT32] = 4, [GGUF_BOOL] = 1,
	[GGUF_STRING] = 0, [GGUF_ARRAY] = 0, [GGUF_UINT64] = 8, [GGUF_INT64] = 8,
	[GGUF_FLOAT64] = 8,
};

static const char *const gguf_vtype_names[GGUF_VTYPE_COUNT] = {
	"UINT8", "INT8", "UINT16", "INT16", "UINT32", "INT32", "FLOAT32",
	"BOOL", "STRING", "ARRAY", "UINT64", "INT64", "FLOAT64",
};

/*
 * Printable name of a value type ("invalid" for numbers outside the enum).
 */
const char *
gguf_vtype_name(gguf_vtype t)
{
	if ((unsigned) t >= GGUF_VTYPE_COUNT)
		return "invalid";
	return gguf_vtype_names[t];
}

/* ------------------------------------------------------------ reading */

/*
 * Bytes left after the cursor.
 */
static size_t
rd_left(const gguf_reader *r)
{
	return r->size - r->pos;
}

/*
 * Read a little-endian u32; -1 with a "truncated" message naming what when
 * the image ends first.
 */
static int
rd_u32(gguf_reader *r, uint32_t *out, const char *what, char *err)
{
	const uint8_t *b;

	*out = 0;
	if (rd_left(r) < 4)
		return llm_err(err, "file truncated while reading %s", what);
	b = r->p + r->pos;
	*out = (uint32_t) b[0] | (uint32_t) b[1] << 8 | (uint32_t) b[2] << 16 |
		(uint32_t) b[3] << 24;
	r->pos += 4;
	return 0;
}

/*
 * Read a little-endian u64 (see rd_u32).
 */
static int
rd_u64(gguf_reader *r, uint64_t *out, const char *what, char *err)
{
	const uint8_t *b;
	uint64_t	v = 0;
	int			i;

	*out = 0;
	if (rd_left(r) < 8)
		return llm_err(err, "file truncated while reading %s", what);
	b = r->p + r->pos;
	for (i = 7; i >= 0; i--)
		v = v << 8 | b[i];
	*out = v;
	r->pos += 8;
	return 0;
}

/*
 * Load a little-endian unsigned value of n (1, 2, 4 or 8) bytes from p.
 */
static uint64_t
ld_le(const uint8_t *p, unsigned n)
{
	uint64_t	v = 0;

	while (n-- > 0)
		v = v << 8 | p[n];
	return v;
}

/*
 * Read a string (u64 length + bytes) of at most max bytes; the result
 * points into the image. what names the string for messages.
 */
static int
rd_str(gguf_reader *r, gguf_str *out, uint64_t max, const char *what,
	   char *err)
{
	uint64_t	len;

	if (rd_u64(r, &len, what, err) < 0)
		return -1;
	if (len > max)
		return llm_err(err, "%s: string length %llu exceeds the limit of %llu",
					   what, (unsigned long long) len,
					   (unsigned long long) max);
	if (len > rd_left(r))
		return llm_err(err, "file truncated: %s: string length %llu runs past the end of the file",
					   what, (unsigned long long) len);
	out->len = len;
	out->ptr = (const char *) r->p + r->pos;
	r->pos += (size_t) len;
	return 0;
}

/*
 * Copy a name string to a fresh NUL-terminated buffer, rejecting empty
 * names and embedded NULs. kind is "key" or "tensor name".
 */
static int
dup_name(const gguf_str *s, const char *kind, char **out, char *err)
{
	char	   *c;

	if (s->len == 0)
		return llm_err(err, "empty %s", kind);
	if (memchr(s->ptr, 0, (size_t) s->len) != NULL)
		return llm_err(err, "%s \"%.64s\" contains a NUL byte", kind, s->ptr);
	c = malloc((size_t) s->len + 1);
	if (c == NULL)
		return llm_err(err, "out of memory copying a %s", kind);
	memcpy(c, s->ptr, (size_t) s->len);
	c[s->len] = '\0';
	*out = c;
	return 0;
}

/* -------------------------------------------------------- hash tables */

/*
 * FNV-1a hash of a NUL-terminated string.
 */
static uint64_t
name_hash(const char *s)
{
	uint64_t	h = 0xcbf29ce484222325ull;

	while (*s)
	{
		h ^= (unsigned char) *s++;
		h *= 0x100000001b3ull;
	}
	return h;
}

/*
 * Allocate an empty open-addressing table for n names (capacity a power of
 * two of at least 2n). -1 on overflow or allocation failure.
 */
static int
hash_alloc(uint64_t n, size_t **tab, size_t *cap, char *err)
{
	size_t		c = 16;

	while (c < n * 2)
	{
		if (c > SIZE_MAX / 2 / sizeof(size_t))
			return llm_err(err, "too many entries for a hash table");
		c *= 2;
	}
	*tab = calloc(c, sizeof(size_t));
	if (*tab == NULL)
		return llm_err(err, "out of memory allocating a hash table");
	*cap = c;
	return 0;
}

/*
 * Look name up in a table whose entries index names via get(); return the
 * slot holding it, or the empty slot where it would go.
 */
static size_t
hash_slot(const size_t *tab, size_t cap, const char *name,
		  const char *(*get) (const void *, size_t), const void *arr)
{
	size_t		i = (size_t) name_hash(name) & (cap - 1);

	while (tab[i] != 0 && strcmp(get(arr, tab[i] - 1), name) != 0)
		i = (i + 1) & (cap - 1);
	return i;
}

/*
 * Key of the i-th KV pair (accessor for hash_slot).
 */
static const char *
kv_key_at(const void *arr, size_t i)
{
	return ((const gguf_kv *) arr)[i].key;
}

/*
 * Name of the i-th tensor (accessor for hash_slot).
 */
static const char *
tensor_name_at(const void *arr, size_t i)
{
	return ((const gguf_tensor *) arr)[i].name;
}

/*
 * Build the lookup table for n names (read through get) and report in
 * *dup the index of the first name seen twice, SIZE_MAX when all are
 * unique. -1 only when the table cannot be allocated.
 */
static int
build_hash(uint64_t n, const char *(*get) (const void *, size_t),
		   const void *arr, size_t **tab, size_t *cap, size_t *dup, char *err)
{
	size_t		i;

	*dup = SIZE_MAX;
	if (hash_alloc(n, tab, cap, err) < 0)
		return -1;
	for (i = 0; i < n; i++)
	{
		size_t		slot = hash_slot(*tab, *cap, get(arr, i), get, arr);

		if ((*tab)[slot] != 0)
		{
			*dup = i;
			return 0;
		}
		(*tab)[slot] = i + 1;
	}
	return 0;
}

/* ------------------------------------------------------------ parsing */

/*
 * Read one scalar value of type t into kv (the type is already known to be
 * a fixed-size scalar).
 */
static int
read_scalar(gguf_reader *r, gguf_kv *kv, gguf_vtype t, char *err)
{
	unsigned	n = gguf_vtype_size[t];
	uint64_t	raw;

	if (rd_left(r) < n)
		return llm_err(err, "file truncated while reading the value of key %.64s",
					   kv->key);
	raw = ld_le(r->p + r->pos, n);
	r->pos += n;
	switch (t)
	{
		case GGUF_INT8:
			kv->v.i64 = (int8_t) raw;
			break;
		case GGUF_INT16:
			kv->v.i64 = (int16_t) raw;
			break;
		case GGUF_INT32:
			kv->v.i64 = (int32_t) raw;
			break;
		case GGUF_INT64:
			kv->v.i64 = (int64_t) raw;
			break;
		case GGUF_FLOAT32:
			{
				uint32_t	u = (uint32_t) raw;
				float		fv;

				memcpy(&fv, &u, 4);
				kv->v.f64 = fv;
				break;
			}
		case GGUF_FLOAT64:
			memcpy(&kv->v.f64, &raw, 8);
			break;
		default:				/* unsigned integers and BOOL */
			kv->v.u64 = raw;
			break;
	}
	return 0;
}

/*
 * Read an array value (element type, count, elements) into kv.
 */
static int
read_array(gguf_reader *r, gguf_kv *kv, char *err)
{
	uint32_t	et;
	uint64_t	n;
	uint64_t	i;

	if (rd_u32(r, &et, "an array element type", err) < 0)
		return -1;
	if (et >= GGUF_VTYPE_COUNT)
		return llm_err(err, "key %.64s: invalid array element type %u",
					   kv->key, et);
	if (et == GGUF_ARRAY)
		return llm_err(err, "key %.64s: nested arrays are not supported",
					   kv->key);
	if (rd_u64(r, &n, "an array length", err) < 0)
		return -1;
	kv->v.arr.type = (gguf_vtype) et;
	kv->v.arr.n = n;
	kv->v.arr.data = r->p + r->pos;
	kv->v.arr.strs = NULL;
	if (et != GGUF_STRING)
	{
		uint64_t	bytes;

		if (__builtin_mul_overflow(n, (uint64_t) gguf_vtype_size[et], &bytes) ||
			bytes > rd_left(r))
			return llm_err(err, "key %.64s: array of %llu elements runs past the end of the file (truncated)",
						   kv->key, (unsigned long long) n);
		r->pos += (size_t) bytes;
		return 0;
	}
	/* every string takes at least its 8-byte length */
	if (n > rd_left(r) / 8)
		return llm_err(err, "key %.64s: array of %llu strings runs past the end of the file (truncated)",
					   kv->key, (unsigned long long) n);
	kv->v.arr.strs = malloc(n > 0 ? (size_t) n * sizeof(gguf_str) : 1);
	if (kv->v.arr.strs == NULL)
		return llm_err(err, "out of memory for the strings of key %.64s",
					   kv->key);
	for (i = 0; i < n; i++)
	{
		if (rd_str(r, &kv->v.arr.strs[i], GGUF_MAX_STRING, kv->key, err) < 0)
			return -1;
	}
	return 0;
}

/*
 * Read one KV pair into kv (key copied, value parsed); the caller frees
 * kv's allocations whether or not this succeeds.
 */
static int
read_kv(gguf_reader *r, gguf_kv *kv, char *err)
{
	gguf_str	ks;
	uint32_t	t;

	if (rd_str(r, &ks, GGUF_MAX_KEY, "key", err) < 0)
		return -1;
	if (dup_name(&ks, "key", &kv->key, err) < 0)
		return -1;
	if (rd_u32(r, &t, "a value type", err) < 0)
		return -1;
	if (t >= GGUF_VTYPE_COUNT)
		return llm_err(err, "key %.64s: invalid value type %u", kv->key, t);
	kv->type = (gguf_vtype) t;
	if (t == GGUF_ARRAY)
		return read_array(r, kv, err);
	if (t == GGUF_STRING)
		return rd_str(r, &kv->v.str, GGUF_MAX_STRING, kv->key, err);
	return read_scalar(r, kv, (gguf_vtype) t, err);
}

/*
 * Parse the metadata section: n_kv pairs, unique keys, and a valid
 * general.alignment if present.
 */
static int
parse_kvs(gguf_file *f, gguf_reader *r, char *err)
{
	uint64_t	total = f->n_kv;
	uint64_t	i;
	uint64_t	cap = 0;
	const gguf_kv *al;
	size_t		dup;

	f->n_kv = 0;				/* counts the entries gguf_close must free */
	for (i = 0; i < total; i++)
	{
		if (i == cap)
		{
			/* grow geometrically: the count is bounded but not trusted */
			uint64_t	ncap = cap ? cap * 2 : 64;
			gguf_kv    *nk;

			if (ncap > total)
				ncap = total;
			nk = realloc(f->kvs, (size_t) ncap * sizeof(gguf_kv));
			if (nk == NULL)
				return llm_err(err, "out of memory for %llu metadata entries",
							   (unsigned long long) total);
			memset(nk + cap, 0, (size_t) (ncap - cap) * sizeof(gguf_kv));
			f->kvs = nk;
			cap = ncap;
		}
		f->n_kv = i + 1;
		if (read_kv(r, &f->kvs[i], err) < 0)
			return -1;
	}
	if (build_hash(f->n_kv, kv_key_at, f->kvs, &f->kv_hash, &f->kv_hash_cap,
				   &dup, err) < 0)
		return -1;
	if (dup != SIZE_MAX)
		return llm_err(err, "duplicate key %.64s", f->kvs[dup].key);

	f->alignment = GGUF_DEFAULT_ALIGN;
	al = gguf_find(f, "general.alignment");
	if (al != NULL)
	{
		if (al->type != GGUF_UINT32)
			return llm_err(err, "general.alignment has type %s, expected UINT32",
						   gguf_vtype_name(al->type));
		if (al->v.u64 == 0 || (al->v.u64 & (al->v.u64 - 1)) != 0)
			return llm_err(err, "general.alignment %llu is not a power of two",
						   (unsigned long long) al->v.u64);
		if (al->v.u64 > GGUF_MAX_ALIGNMENT)
			return llm_err(err, "general.alignment %llu is larger than the limit %u",
						   (unsigned long long) al->v.u64, GGUF_MAX_ALIGNMENT);
		f->alignment = (uint32_t) al->v.u64;
	}
	return 0;
}

/*
 * Read one tensor info into t (name copied; shape, type and byte size
 * checked; offset not yet checked against the data section).
 */
static int
read_tensor_info(gguf_reader *r, gguf_tensor *t, char *err)
{
	gguf_str	ns;
	uint32_t	type;
	uint32_t	d;
	const llm_type_traits *tr;
	int64_t		nel = 1;
	int64_t		rows = 1;
	uint64_t	row_bytes;

	if (rd_str(r, &ns, GGUF_MAX_NAME, "tensor name", err) < 0)
		return -1;
	if (dup_name(&ns, "tensor name", &t->name, err) < 0)
		return -1;
	if (rd_u32(r, &t->n_dims, "a tensor's n_dims", err) < 0)
		return -1;
	if (t->n_dims < 1 || t->n_dims > GGUF_MAX_DIMS)
		return llm_err(err, "tensor %.64s: n_dims %u is not in 1..%d",
					   t->name, t->n_dims, GGUF_MAX_DIMS);
	for (d = 0; d < GGUF_MAX_DIMS; d++)
	{
		uint64_t	ne = 1;

		if (d < t->n_dims && rd_u64(r, &ne, "a tensor dimension", err) < 0)
			return -1;
		if (ne > (uint64_t) INT64_MAX)
			return llm_err(err, "tensor %.64s: negative dimension %lld",
						   t->name, (long long) (int64_t) ne);
		t->ne[d] = (int64_t) ne;
		if (__builtin_mul_overflow(nel, t->ne[d], &nel))
			return llm_err(err, "tensor %.64s: element count overflows", t->name);
		if (d > 0 && __builtin_mul_overflow(rows, t->ne[d], &rows))
			return llm_err(err, "tensor %.64s: element count overflows", t->name);
	}
	if (rd_u32(r, &type, "a tensor type", err) < 0)
		return -1;
	tr = llm_type_get(type);
	if (tr == NULL)
		return llm_err(err, "tensor %.64s: unknown tensor type %u",
					   t->name, type);
	t->type = (llm_type) type;
	if (t->ne[0] % tr->block_size != 0)
		return llm_err(err, "tensor %.64s: first dimension %lld is not a multiple of the block size %u of %s",
					   t->name, (long long) t->ne[0], tr->block_size, tr->name);
	if (__builtin_mul_overflow((uint64_t) t->ne[0] / tr->block_size,
							   (uint64_t) tr->type_size, &row_bytes) ||
		__builtin_mul_overflow(row_bytes, (uint64_t) rows, &t->nbytes))
		return llm_err(err, "tensor %.64s: byte size overflows", t->name);
	t->nelements = (uint64_t) nel;
	if (rd_u64(r, &t->offset, "a tensor offset", err) < 0)
		return -1;
	return 0;
}

/*
 * qsort comparator: tensors by data offset, then by size.
 */
static int
cmp_tensor_offset(const void *a, const void *b)
{
	const gguf_tensor *x = *(const gguf_tensor *const *) a;
	const gguf_tensor *y = *(const gguf_tensor *const *) b;

	if (x->offset != y->offset)
		return x->offset < y->offset ? -1 : 1;
	if (x->nbytes != y->nbytes)
		return x->nbytes < y->nbytes ? -1 : 1;
	return 0;
}

/*
 * Check that no two non-empty tensor data ranges overlap (sort by offset,
 * compare neighbours).
 */
static int
check_overlap(gguf_file *f, char *err)
{
	gguf_tensor **ord;
	const gguf_tensor *prev = NULL;
	uint64_t	prev_end = 0;
	uint64_t	i;

	if (f->n_tensors < 2)
		return 0;
	ord = malloc((size_t) f->n_tensors * sizeof(*ord));
	if (ord == NULL)
		return llm_err(err, "out of memory sorting tensors");
	for (i = 0; i < f->n_tensors; i++)
		ord[i] = &f->tensors[i];
	qsort(ord, (size_t) f->n_tensors, sizeof(*ord), cmp_tensor_offset);
	for (i = 0; i < f->n_tensors; i++)
	{
		const gguf_tensor *t = ord[i];

		if (t->nbytes == 0)
			continue;
		if (prev != NULL && t->offset < prev_end)
		{
			llm_err(err, "tensors %.64s and %.64s have overlapping data",
					prev->name, t->name);
			free(ord);
			return -1;
		}
		prev = t;
		prev_end = t->offset + t->nbytes;	/* checked against the file */
	}
	free(ord);
	return 0;
}

/*
 * Parse the tensor infos, locate the data section and check every
 * tensor's data range.
 */
static int
parse_tensors(gguf_file *f, gguf_reader *r, char *err)
{
	uint64_t	total = f->n_tensors;
	uint64_t	i;
	uint64_t	cap = 0;
	size_t		data_size;
	size_t		dup;

	f->n_tensors = 0;
	for (i = 0; i < total; i++)
	{
		if (i == cap)
		{
			uint64_t	ncap = cap ? cap * 2 : 64;
			gguf_tensor *nt;

			if (ncap > total)
				ncap = total;
			nt = realloc(f->tensors, (size_t) ncap * sizeof(gguf_tensor));
			if (nt == NULL)
				return llm_err(err, "out of memory for %llu tensors",
							   (unsigned long long) total);
			memset(nt + cap, 0, (size_t) (ncap - cap) * sizeof(gguf_tensor));
			f->tensors = nt;
			cap = ncap;
		}
		f->n_tensors = i + 1;
		if (read_tensor_info(r, &f->tensors[i], err) < 0)
			return -1;
	}
	if (build_hash(f->n_tensors, tensor_name_at, f->tensors, &f->t_hash,
				   &f->t_hash_cap, &dup, err) < 0)
		return -1;
	if (dup != SIZE_MAX)
		return llm_err(err, "duplicate tensor name %.64s",
					   f->tensors[dup].name);

	/* data section: after the infos, padded to the alignment */
	f->data_start = r->pos;
	if (f->data_start % f->alignment != 0)
		f->data_start += f->alignment - f->data_start % f->alignment;
	if (f->n_tensors == 0)
		return 0;
	if (f->data_start > f->size)
		return llm_err(err, "file truncated before the tensor data section");
	data_size = f->size - f->data_start;

	for (i = 0; i < f->n_tensors; i++)
	{
		gguf_tensor *t = &f->tensors[i];

		if (t->offset % f->alignment != 0)
			return llm_err(err, "tensor %.64s: offset %llu is not a multiple of the alignment %u",
						   t->name, (unsigned long long) t->offset, f->alignment);
		if (t->offset > data_size || t->nbytes > data_size - t->offset)
			return llm_err(err, "tensor %.64s: data (offset %llu, %llu bytes) lies outside the file",
						   t->name, (unsigned long long) t->offset,
						   (unsigned long long) t->nbytes);
		t->data = f->base + f->data_start + t->offset;
	}
	return check_overlap(f, err);
}

/*
 * Parse and validate a whole image into f (base and size already set).
 */
static int
parse_image(gguf_file *f, char *err)
{
	gguf_reader r = {f->base, f->size, 0};
	uint32_t	magic;
	uint64_t	n_tensors;
	uint64_t	n_kv;
	size_t		left;

	if (f->size == 0)
		return llm_err(err, "file truncated: the file is empty");
	if (rd_u32(&r, &magic, "the magic number", err) < 0)
		return -1;
	if (magic != GGUF_MAGIC)
		return llm_err(err, "bad magic: not a GGUF file");
	if (rd_u32(&r, &f->version, "the version", err) < 0)
		return -1;
	if ((f->version & 0xffff) == 0 && f->version != 0)
		return llm_err(err, "big-endian GGUF files are not supported");
	if (f->version == 1)
		return llm_err(err, "GGUF version 1 is not supported");
	if (f->version != 2 && f->version != 3)
		return llm_err(err, "unsupported GGUF version %u", f->version);
	if (rd_u64(&r, &n_tensors, "the tensor count", err) < 0 ||
		rd_u64(&r, &n_kv, "the metadata count", err) < 0)
		return -1;

	/* counts against the bytes left: fail fast, before any allocation */
	left = rd_left(&r);
	if (n_kv > left / GGUF_MIN_KV_BYTES)
		return llm_err(err, "n_kv %llu is too large for a file of %zu bytes",
					   (unsigned long long) n_kv, f->size);
	if (n_tensors > left / GGUF_MIN_TI_BYTES ||
		n_kv * GGUF_MIN_KV_BYTES > left - n_tensors * GGUF_MIN_TI_BYTES)
		return llm_err(err, "n_tensors %llu is too large for a file of %zu bytes",
					   (unsigned long long) n_tensors, f->size);
	f->n_kv = n_kv;
	f->n_tensors = 0;
	if (parse_kvs(f, &r, err) < 0)
		return -1;
	f->n_tensors = n_tensors;
	return parse_tensors(f, &r, err);
}

/*
 * Parse a GGUF image held in memory (not copied). On failure *out is NULL.
 */
int
gguf_open_memory(gguf_file **out, const void *data, size_t size, char *err)
{
	gguf_file  *f;

	*out = NULL;
	if (data == NULL && size > 0)
		return llm_err(err, "no data");
	f = calloc(1, sizeof(*f));
	if (f == NULL)
		return llm_err(err, "out of memory");
	f->base = data;
	f->size = size;
	if (parse_image(f, err) < 0)
	{
		gguf_close(f);
		return -1;
	}
	*out = f;
	return 0;
}

/*
 * Map the file at path read-only and parse it.
 */
int
gguf_open(gguf_file **out, const char *path, char *err)
{
	int			fd;
	struct stat st;
	void	   *map;
	gguf_file  *f;

	*out = NULL;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return llm_err(err, "cannot open %s: %s", path, strerror(errno));
	if (fstat(fd, &st) < 0)
	{
		llm_err(err, "cannot stat %s: %s", path, strerror(errno));
		close(fd);
		return -1;
	}
	if (!S_ISREG(st.st_mode))
	{
		close(fd);
		return llm_err(err, "%s is not a regular file", path);
	}
	if (st.st_size == 0)
	{
		close(fd);
		return llm_err(err, "file truncated: %s is empty", path);
	}
	if ((uint64_t) st.st_size > SIZE_MAX)
	{
		close(fd);
		return llm_err(err, "%s is too large to map", path);
	}
	map = mmap(NULL, (size_t) st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
	close(fd);
	if (map == MAP_FAILED)
		return llm_err(err, "cannot map %s: %s", path, strerror(errno));

	f = calloc(1, sizeof(*f));
	if (f == NULL)
	{
		munmap(map, (size_t) st.st_size);
		return llm_err(err, "out of memory");
	}
	f->base = map;
	f->size = (size_t) st.st_size;
	f->mapped = true;
	if (parse_image(f, err) < 0)
	{
		gguf_close(f);
		return -1;
	}
	*out = f;
	return 0;
}

/*
 * Free everything owned by f and unmap the file (NULL is allowed).
 */
void
gguf_close(gguf_file *f)
{
	uint64_t	i;

	if (f == NULL)
		return;
	if (f->kvs != NULL)
	{
		for (i = 0; i < f->n_kv; i++)
		{
			free(f->kvs[i].key);
			if (f->kvs[i].type == GGUF_ARRAY)
				free(f->kvs[i].v.arr.strs);
		}
	}
	if (f->tensors != NULL)
	{
		for (i = 0; i < f->n_tensors; i++)
			free(f->tensors[i].name);
	}
	free(f->kvs);
	free(f->kv_hash);
	free(f->tensors);
	free(f->t_hash);
	if (f->mapped)
		munmap((void *) f->base, f->size);
	free(f);
}

/* ---------------------------------------------------------- accessors */

/*
 * GGUF version of the file (2 or 3).
 */
uint32_t
gguf_version(const gguf_file *f)
{
	return f->version;
}

/*
 * Alignment of the data section (general.alignment or 32).
 */
uint32_t
gguf_alignment(const gguf_file *f)
{
	return f->alignment;
}

/*
 * Size of the image in bytes.
 */
size_t
gguf_file_size(const gguf_file *f)
{
	return f->size;
}

/*
 * See gguf.h. The mapping is private and read-only, so dropping its pages
 * loses nothing.
 */
void
gguf_release(const gguf_file *f, const void *p, size_t n)
{
	long		page = sysconf(_SC_PAGESIZE);
	uintptr_t	lo = (uintptr_t) p,
				hi;

	if (f == NULL || !f->mapped || page <= 0 || n == 0 ||
		lo < (uintptr_t) f->base || n > f->size - (lo - (uintptr_t) f->base))
		return;
	hi = (lo + n) & ~((uintptr_t) page - 1);
	lo = (lo + (uintptr_t) page - 1) & ~((uintptr_t) page - 1);
	if (lo < hi)
		(void) madvise((void *) lo, hi - lo, MADV_DONTNEED);
}

/*
 * Number of metadata pairs.
 */
uint64_t
gguf_n_kv(const gguf_file *f)
{
	return f->n_kv;
}

/*
 * The i-th metadata pair in file order, NULL when out of range.
 */
const gguf_kv *
gguf_kv_at(const gguf_file *f, uint64_t i)
{
	return i < f->n_kv ? &f->kvs[i] : NULL;
}

/*
 * Metadata pair with the given key, NULL when absent.
 */
const gguf_kv *
gguf_find(const gguf_file *f, const char *key)
{
	size_t		slot;

	if (f->kv_hash == NULL || key == NULL)
		return NULL;
	slot = hash_slot(f->kv_hash, f->kv_hash_cap, key, kv_key_at, f->kvs);
	return f->kv_hash[slot] ? &f->kvs[f->kv_hash[slot] - 1] : NULL;
}

/*
 * Number of tensors.
 */
uint64_t
gguf_n_tensors(const gguf_file *f)
{
	return f->n_tensors;
}

/*
 * The i-th tensor in file order, NULL when out of range.
 */
const gguf_tensor *
gguf_tensor_at(const gguf_file *f, uint64_t i)
{
	return i < f->n_tensors ? &f->tensors[i] : NULL;
}

/*
 * Tensor with the given name, NULL when absent.
 */
const gguf_tensor *
gguf_find_tensor(const gguf_file *f, const char *name)
{
	size_t		slot;

	if (f->t_hash == NULL || name == NULL)
		return NULL;
	slot = hash_slot(f->t_hash, f->t_hash_cap, name, tensor_name_at,
					 f->tensors);
	return f->t_hash[slot] ? &f->tensors[f->t_hash[slot] - 1] : NULL;
}

/* ------------------------------------------------------------ getters */

/*
 * True for the signed integer value types.
 */
static bool
vtype_is_signed(gguf_vtype t)
{
	return t == GGUF_INT8 || t == GGUF_INT16 || t == GGUF_INT32 ||
		t == GGUF_INT64;
}

/*
 * True for the unsigned integer value types (BOOL excluded).
 */
static bool
vtype_is_unsigned(gguf_vtype t)
{
	return t == GGUF_UINT8 || t == GGUF_UINT16 || t == GGUF_UINT32 ||
		t == GGUF_UINT64;
}

/*
 * Integer value of key as uint32 (any integer type whose value fits).
 */
int
gguf_get_u32(const gguf_file *f, const char *key, uint32_t *out, char *err)
{
	const gguf_kv *kv = gguf_find(f, key);

	if (kv == NULL)
		return 0;
	if (vtype_is_unsigned(kv->type))
	{
		if (kv->v.u64 > UINT32_MAX)
			return llm_err(err, "%.64s: value %llu out of range", key,
						   (unsigned long long) kv->v.u64);
		*out = (uint32_t) kv->v.u64;
		return 1;
	}
	if (vtype_is_signed(kv->type))
	{
		if (kv->v.i64 < 0 || kv->v.i64 > (int64_t) UINT32_MAX)
			return llm_err(err, "%.64s: value %lld out of range", key,
						   (long long) kv->v.i64);
		*out = (uint32_t) kv->v.i64;
		return 1;
	}
	return llm_err(err, "%.64s has type %s, expected an integer", key,
				   gguf_vtype_name(kv->type));
}

/*
 * Numeric value of key as float (floats or integers).
 */
int
gguf_get_f32(const gguf_file *f, const char *key, float *out, char *err)
{
	const gguf_kv *kv = gguf_find(f, key);

	if (kv == NULL)
		return 0;
	if (kv->type == GGUF_FLOAT32 || kv->type == GGUF_FLOAT64)
		*out = (float) kv->v.f64;
	else if (vtype_is_unsigned(kv->type))
		*out = (float) kv->v.u64;
	else if (vtype_is_signed(kv->type))
		*out = (float) kv->v.i64;
	else
		return llm_err(err, "%.64s has type %s, expected a number", key,
					   gguf_vtype_name(kv->type));
	return 1;
}

/*
 * Boolean value of key (type BOOL only).
 */
int
gguf_get_bool(const gguf_file *f, const char *key, bool *out, char *err)
{
	const gguf_kv *kv = gguf_find(f, key);

	if (kv == NULL)
		return 0;
	if (kv->type != GGUF_BOOL)
		return llm_err(err, "%.64s has type %s, expected BOOL", key,
					   gguf_vtype_name(kv->type));
	*out = kv->v.u64 != 0;
	return 1;
}

/*
 * String value of key as a malloc'd NUL-terminated copy.
 */
int
gguf_get_str(const gguf_file *f, const char *key, char **out, char *err)
{
	const gguf_kv *kv = gguf_find(f, key);
	char	   *s;

	if (kv == NULL)
		return 0;
	if (kv->type != GGUF_STRING)
		return llm_err(err, "%.64s has type %s, expected STRING", key,
					   gguf_vtype_name(kv->type));
	if (memchr(kv->v.str.ptr, 0, (size_t) kv->v.str.len) != NULL)
		return llm_err(err, "%.64s contains a NUL byte", key);
	s = malloc((size_t) kv->v.str.len + 1);
	if (s == NULL)
		return llm_err(err, "out of memory copying %.64s", key);
	memcpy(s, kv->v.str.ptr, (size_t) kv->v.str.len);
	s[kv->v.str.len] = '\0';
	*out = s;
	return 1;
}

/*
 * Array value of key whose element type must be etype.
 */
int
gguf_get_arr(const gguf_file *f, const char *key, gguf_vtype etype,
			 const gguf_kv **out, char *err)
{
	const gguf_kv *kv = gguf_find(f, key);

	if (kv == NULL)
		return 0;
	if (kv->type != GGUF_ARRAY)
		return llm_err(err, "%.64s has type %s, expected an array of %s", key,
					   gguf_vtype_name(kv->type), gguf_vtype_name(etype));
	if (kv->v.arr.type != etype)
		return llm_err(err, "%.64s is an array of %s, expected an array of %s",
					   key, gguf_vtype_name(kv->v.arr.type),
					   gguf_vtype_name(etype));
	*out = kv;
	return 1;
}

/*
 * Raw little-endian bits of numeric array element i, with its byte width
 * in *n; false when kv is not a numeric array or i is out of range.
 */
static bool
arr_elem(const gguf_kv *kv, uint64_t i, uint64_t *raw, unsigned *n)
{
	gguf_vtype	et;

	if (kv == NULL || kv->type != GGUF_ARRAY || i >= kv->v.arr.n)
		return false;
	et = kv->v.arr.type;
	if ((unsigned) et >= GGUF_VTYPE_COUNT || gguf_vtype_size[et] == 0)
		return false;
	*n = gguf_vtype_size[et];
	*raw = ld_le((const uint8_t *) kv->v.arr.data + i * *n, *n);
	return true;
}

/*
 * Element i of a numeric array converted to int32 (0 when out of range;
 * floats truncate, wider integers wrap).
 */
int32_t
gguf_arr_i32(const gguf_kv *kv, uint64_t i)
{
	uint64_t	raw;
	unsigned	n;

	if (!arr_elem(kv, i, &raw, &n))
		return 0;
	switch (kv->v.arr.type)
	{
		case GGUF_INT8:
			return (int8_t) raw;
		case GGUF_INT16:
			return (int16_t) raw;
		case GGUF_FLOAT32:
		case GGUF_FLOAT64:
			{
				float		fv = gguf_arr_f32(kv, i);

				if (!(fv >= -2147483648.0f && fv < 2147483648.0f))
					return 0;
				return (int32_t) fv;
			}
		default:
			return (int32_t) (uint32_t) raw;
	}
}

/*
 * Element i of a numeric array converted to float (0 when out of range).
 */
float
gguf_arr_f32(const gguf_kv *kv, uint64_t i)
{
	uint64_t	raw;
	unsigned	n;

	if (!arr_elem(kv, i, &raw, &n))
		return 0.0f;
	switch (kv->v.arr.type)
	{
		case GGUF_FLOAT32:
			{
				uint32_t	u = (uint32_t) raw;
				float		fv;

				memcpy(&fv, &u, 4);
				return fv;
			}
		case GGUF_FLOAT64:
			{
				double		dv;

				memcpy(&dv, &raw, 8);
				return (float) dv;
			}
		case GGUF_INT8:
			return (float) (int8_t) raw;
		case GGUF_INT16:
			return (float) (int16_t) raw;
		case GGUF_INT32:
			return (float) (int32_t) raw;
		case GGUF_INT64:
			return (float) (int64_t) raw;
		default:
			return (float) raw;
	}
}
