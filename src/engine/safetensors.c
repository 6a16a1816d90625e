/*
 * safetensors.c - validating reader for .safetensors files (see the
 * header for the exact rules enforced).
 */
#include "safetensors.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "json.h"
#include "llm_util.h"

struct llm_st_file
{
	void	   *map;			/* mmap base, NULL for memory images */
	size_t		map_size;
	int			n;
	llm_st_tensor *t;
};

/*
 * Map a dtype name to an engine type and its element size. The dtypes
 * of the safetensors format that the engine cannot compute with (integer
 * and 8-bit float tensors such as BERT's position_ids) are accepted for
 * validation with *t = LLM_TYPE_COUNT; names outside the format are
 * rejected.
 */
static int
st_dtype(const char *s, llm_type *t, size_t *esz)
{
	static const struct
	{
		const char *name;
		llm_type	type;
		size_t		size;
	}			dt[] = {
		{"F32", LLM_TYPE_F32, 4}, {"F16", LLM_TYPE_F16, 2}, {"BF16", LLM_TYPE_BF16, 2},
		{"F64", LLM_TYPE_COUNT, 8}, {"I64", LLM_TYPE_COUNT, 8}, {"U64", LLM_TYPE_COUNT, 8},
		{"I32", LLM_TYPE_COUNT, 4}, {"U32", LLM_TYPE_COUNT, 4}, {"I16", LLM_TYPE_COUNT, 2},
		{"U16", LLM_TYPE_COUNT, 2}, {"I8", LLM_TYPE_COUNT, 1}, {"U8", LLM_TYPE_COUNT, 1},
		{"BOOL", LLM_TYPE_COUNT, 1}, {"F8_E5M2", LLM_TYPE_COUNT, 1},
		{"F8_E4M3", LLM_TYPE_COUNT, 1},
	};
	size_t		i;

	for (i = 0; i < sizeof(dt) / sizeof(dt[0]); i++)
		if (strcmp(s, dt[i].name) == 0)
		{
			*t = dt[i].type;
			*esz = dt[i].size;
			return 0;
		}
	return -1;
}

/*
 * qsort order of tensors by data offset (stored temporarily in nbytes'
 * sibling: we sort an index array instead).
 */
typedef struct st_range
{
	uint64_t	begin;
	uint64_t	end;
	int			idx;
} st_range;

static int
st_range_cmp(const void *a, const void *b)
{
	const st_range *x = a,
			   *y = b;

	if (x->begin != y->begin)
		return x->begin < y->begin ? -1 : 1;
	if (x->end != y->end)
		return x->end < y->end ? -1 : 1;
	return 0;
}

/*
 * Free the tensor table of a file.
 */
static void
st_free_tensors(llm_st_file *f)
{
	int			i;

	for (i = 0; i < f->n; i++)
		free(f->t[i].name);
	free(f->t);
	f->t = NULL;
	f->n = 0;
}

/*
 * Parse one tensor entry of the header into t; range receives its offsets.
 */
static int
st_entry(const char *name, const llm_json *e, llm_st_tensor *t, st_range *range,
		 uint64_t data_size, char *err)
{
	const llm_json *dt = llm_json_get(e, "dtype");
	const llm_json *sh = llm_json_get(e, "shape");
	const llm_json *off = llm_json_get(e, "data_offsets");
	size_t		esz,
				nel = 1,
				nb;
	size_t		i;

	if (!e || e->type != LLM_JSON_OBJECT)
		return llm_err(err, "safetensors: entry '%s' is not an object", name);
	if (!dt || dt->type != LLM_JSON_STRING)
		return llm_err(err, "safetensors: tensor '%s' has no dtype", name);
	if (st_dtype(dt->str, &t->type, &esz) < 0)
		return llm_err(err, "safetensors: tensor '%s' has unknown dtype '%.32s'",
					   name, dt->str);
	snprintf(t->dtype, sizeof(t->dtype), "%s", dt->str);
	if (!sh || sh->type != LLM_JSON_ARRAY)
		return llm_err(err, "safetensors: tensor '%s' has no shape array", name);
	if (sh->n > LLM_ST_MAX_DIMS)
		return llm_err(err, "safetensors: tensor '%s' has %zu dims (max %d)", name, sh->n, LLM_ST_MAX_DIMS);
	t->n_dims = (int) sh->n;
	for (i = 0; i < sh->n; i++)
	{
		const llm_json *d = &sh->items[i];

		if (d->type != LLM_JSON_NUMBER || !d->is_int || d->i < 0)
			return llm_err(err, "safetensors: tensor '%s' has a bad dim %zu", name, i);
		t->shape[i] = d->i;
		if (!llm_mul_size(nel, (size_t) d->i, &nel))
			return llm_err(err, "safetensors: tensor '%s' element count overflows", name);
	}
	if (!llm_mul_size(nel, esz, &nb))
		return llm_err(err, "safetensors: tensor '%s' byte size overflows", name);
	if (!off || off->type != LLM_JSON_ARRAY || off->n != 2 ||
		off->items[0].type != LLM_JSON_NUMBER || !off->items[0].is_int || off->items[0].i < 0 ||
		off->items[1].type != LLM_JSON_NUMBER || !off->items[1].is_int || off->items[1].i < 0)
		return llm_err(err, "safetensors: tensor '%s' has bad data_offsets", name);
	range->begin = (uint64_t) off->items[0].i;
	range->end = (uint64_t) off->items[1].i;
	if (range->begin > range->end)
		return llm_err(err, "safetensors: tensor '%s' has begin > end", name);
	if (range->end > data_size)
		return llm_err(err, "safetensors: tensor '%s' data lies outside the file", name);
	if (range->end - range->begin != nb)
		return llm_err(err, "safetensors: tensor '%s' has %llu data bytes, shape needs %zu",
					   name, (unsigned long long) (range->end - range->begin), nb);
	t->nelements = nel;
	t->nbytes = nb;
	return 0;
}

/*
 * Validate the image and build the tensor table.
 */
static int
st_parse(llm_st_file *f, const unsigned char *base, size_t size, char *err)
{
	uint64_t	hlen = 0;
	uint64_t	data_size;
	const unsigned char *data;
	llm_json   *h;
	st_range   *ranges;
	size_t		i;
	int64_t		dup;
	uint64_t	pos;
	char		e2[LLM_ERRLEN];

	if (size < 8)
		return llm_err(err, "safetensors: file too small (%zu bytes)", size);
	for (i = 0; i < 8; i++)
		hlen |= (uint64_t) base[i] << (8 * i);
	if (hlen > LLM_ST_MAX_HEADER)
		return llm_err(err, "safetensors: header length %llu exceeds the 100 MB limit",
					   (unsigned long long) hlen);
	if (hlen > size - 8)
		return llm_err(err, "safetensors: header length %llu runs past the end of the file",
					   (unsigned long long) hlen);
	if (hlen < 2 || base[8] != '{')
		return llm_err(err, "safetensors: header does not start with '{'");
	data = base + 8 + hlen;
	data_size = size - 8 - hlen;
	h = llm_json_parse((const char *) base + 8, (size_t) hlen, e2);
	if (!h)
		return llm_err(err, "safetensors: bad header: %s", e2);
	if (h->type != LLM_JSON_OBJECT)
	{
		llm_json_free(h);
		return llm_err(err, "safetensors: header is not an object");
	}
	dup = llm_json_dup_key(h);
	if (dup >= 0)
	{
		llm_err(err, "safetensors: duplicate tensor name '%.64s'", h->keys[dup]);
		llm_json_free(h);
		return -1;
	}
	f->t = calloc(h->n ? h->n : 1, sizeof(llm_st_tensor));
	ranges = calloc(h->n ? h->n : 1, sizeof(st_range));
	if (!f->t || !ranges)
	{
		free(ranges);
		llm_json_free(h);
		return llm_err(err, "out of memory");
	}
	for (i = 0; i < h->n; i++)
	{
		llm_st_tensor *t = &f->t[f->n];

		if (strcmp(h->keys[i], "__metadata__") == 0)
		{
			const llm_json *m = &h->items[i];
			size_t		j;

			if (m->type != LLM_JSON_OBJECT)
				goto bad_meta;
			for (j = 0; j < m->n; j++)
				if (m->items[j].type != LLM_JSON_STRING)
					goto bad_meta;
			continue;
		}
		if (h->key_lens[i] != strlen(h->keys[i]))
		{
			llm_err(err, "safetensors: tensor name with an embedded NUL");
			goto fail;
		}
		if (st_entry(h->keys[i], &h->items[i], t, &ranges[f->n], data_size, err) < 0)
			goto fail;
		t->name = strdup(h->keys[i]);
		if (!t->name)
		{
			llm_err(err, "out of memory");
			goto fail;
		}
		t->data = data + ranges[f->n].begin;
		ranges[f->n].idx = f->n;
		f->n++;
	}
	/* tensors must tile the data area exactly (no overlap, no hole) */
	qsort(ranges, (size_t) f->n, sizeof(st_range), st_range_cmp);
	pos = 0;
	for (i = 0; i < (size_t) f->n; i++)
	{
		if (ranges[i].begin < pos)
		{
			llm_err(err, "safetensors: tensor '%.64s' overlaps another tensor", f->t[ranges[i].idx].name);
			goto fail;
		}
		if (ranges[i].begin > pos)
		{
			llm_err(err, "safetensors: hole before tensor '%.64s' (data must be contiguous)",
					f->t[ranges[i].idx].name);
			goto fail;
		}
		pos = ranges[i].end;
	}
	if (pos != data_size)
	{
		llm_err(err, "safetensors: data area has %llu bytes, tensors cover %llu",
				(unsigned long long) data_size, (unsigned long long) pos);
		goto fail;
	}
	free(ranges);
	llm_json_free(h);
	return 0;

bad_meta:
	llm_err(err, "safetensors: __metadata__ must map strings to strings");
fail:
	free(ranges);
	llm_json_free(h);
	st_free_tensors(f);
	return -1;
}

/*
 * Validate an in-memory image.
 */
int
llm_st_open_memory(llm_st_file **out, const void *data, size_t size, char *err)
{
	llm_st_file *f = calloc(1, sizeof(*f));

	*out = NULL;
	if (!f)
		return llm_err(err, "out of memory");
	if (st_parse(f, data, size, err) < 0)
	{
		free(f);
		return -1;
	}
	*out = f;
	return 0;
}

/*
 * Map and validate a file.
 */
int
llm_st_open(llm_st_file **out, const char *path, char *err)
{
	int			fd;
	struct stat st;
	void	   *map;
	llm_st_file *f;
	char		e2[LLM_ERRLEN];

	*out = NULL;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return llm_err(err, "cannot open %s: %s", path, strerror(errno));
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_size < 8)
	{
		close(fd);
		return llm_err(err, "%s: not a regular file of at least 8 bytes", path);
	}
	map = mmap(NULL, (size_t) st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
	close(fd);
	if (map == MAP_FAILED)
		return llm_err(err, "cannot mmap %s: %s", path, strerror(errno));
	f = calloc(1, sizeof(*f));
	if (!f)
	{
		munmap(map, (size_t) st.st_size);
		return llm_err(err, "out of memory");
	}
	if (st_parse(f, map, (size_t) st.st_size, e2) < 0)
	{
		munmap(map, (size_t) st.st_size);
		free(f);
		return llm_err(err, "%s: %s", path, e2);
	}
	f->map = map;
	f->map_size = (size_t) st.st_size;
	*out = f;
	return 0;
}

/*
 * Release a file and its mapping.
 */
void
llm_st_close(llm_st_file *f)
{
	if (!f)
		return;
	st_free_tensors(f);
	if (f->map)
		munmap(f->map, f->map_size);
	free(f);
}

/*
 * Number of tensors.
 */
int
llm_st_n_tensors(const llm_st_file *f)
{
	return f->n;
}

/*
 * Tensor i, NULL when out of range.
 */
const llm_st_tensor *
llm_st_tensor_at(const llm_st_file *f, int i)
{
	return (i >= 0 && i < f->n) ? &f->t[i] : NULL;
}

/*
 * Tensor by name (linear scan; models have a few hundred tensors).
 */
const llm_st_tensor *
llm_st_find(const llm_st_file *f, const char *name)
{
	int			i;

	for (i = 0; i < f->n; i++)
		if (strcmp(f->t[i].name, name) == 0)
			return &f->t[i];
	return NULL;
}
