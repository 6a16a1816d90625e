/*
 * tokenizer_heap.c - the binary min-heap both tokenizer models use to pick
 * the next merge (tokenizer_bpe.c by rank, tokenizer_spm.c by score).
 *
 * Elements are fixed-size byte blobs kept in one growable array; the heap
 * order comes from the caller's before() function, so the element at the
 * top is one that no other element is before. Sifting moves a hole rather
 * than swapping, so each step copies one element.
 */
#include <stdlib.h>
#include <string.h>

#include "llm_util.h"
#include "tokenizer_int.h"

/* capacity of the first allocation, in elements */
#define TOK_HEAP_FIRST_CAP	64

/*
 * Address of element i of the heap's array.
 */
static inline unsigned char *
heap_at(const tok_heap *h, size_t i)
{
	return h->data + i * h->elem;
}

/*
 * Copy one element. Elements are small (a few words), where a loop of
 * fixed four-byte copies beats a call to memcpy; other sizes use memcpy.
 */
static inline void
heap_copy(const tok_heap *h, void *dst, const void *src)
{
	unsigned char *d = dst;
	const unsigned char *s = src;

	if (h->elem % sizeof(uint32_t) != 0)
	{
		memcpy(d, s, h->elem);
		return;
	}
	for (size_t k = 0; k < h->elem; k += sizeof(uint32_t))
		memcpy(d + k, s + k, sizeof(uint32_t));
}

/*
 * Insert a copy of *elem (which must not point into the heap); -1 when
 * memory runs out or the size would overflow, the heap unchanged.
 */
int
tok_heap_push(tok_heap *h, const void *elem)
{
	size_t		i;

	if (h->n == h->cap)
	{
		size_t		ncap;
		size_t		bytes;
		unsigned char *nd;

		if (h->cap == 0)
			ncap = TOK_HEAP_FIRST_CAP;
		else if (!llm_mul_size(h->cap, 2, &ncap))
			return -1;
		if (!llm_mul_size(ncap, h->elem, &bytes))
			return -1;
		nd = realloc(h->data, bytes);
		if (!nd)
			return -1;
		h->data = nd;
		h->cap = ncap;
	}
	i = h->n++;
	while (i > 0)
	{
		size_t		parent = (i - 1) / 2;

		if (!h->before(elem, heap_at(h, parent)))
			break;
		heap_copy(h, heap_at(h, i), heap_at(h, parent));
		i = parent;
	}
	heap_copy(h, heap_at(h, i), elem);
	return 0;
}

/*
 * Move the top element into *out and restore the heap; h->n must be > 0.
 * The old last element stays readable past the new end while it sinks.
 */
void
tok_heap_pop(tok_heap *h, void *out)
{
	const unsigned char *last;
	size_t		i = 0;
	size_t		n;

	heap_copy(h, out, heap_at(h, 0));
	n = --h->n;
	if (n == 0)
		return;
	last = heap_at(h, n);
	for (;;)
	{
		size_t		c = 2 * i + 1;

		if (c >= n)
			break;
		if (c + 1 < n && h->before(heap_at(h, c + 1), heap_at(h, c)))
			c++;
		if (!h->before(heap_at(h, c), last))
			break;
		heap_copy(h, heap_at(h, i), heap_at(h, c));
		i = c;
	}
	heap_copy(h, heap_at(h, i), last);
}

/*
 * Release the heap's array and leave it empty (reusable after init).
 */
void
tok_heap_free(tok_heap *h)
{
	free(h->data);
	h->data = NULL;
	h->n = 0;
	h->cap = 0;
}
