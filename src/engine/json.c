/*
 * json.c - a small strict JSON parser (see json.h).
 *
 * Recursive descent with an explicit depth limit. Values are built as a
 * tree of llm_json nodes; arrays and objects hold their children by value
 * in a growable array. Everything read is bounds-checked against the
 * input length; the input need not be NUL-terminated.
 */
#include "json.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "llm_util.h"

typedef struct jp
{
	const char *s;
	size_t		len;
	size_t		pos;
	char	   *err;
} jp;

static int	jp_value(jp *p, llm_json *out, int depth);

/*
 * Record a parse error at the current position and return -1.
 */
static int
jp_fail(jp *p, const char *what)
{
	return llm_err(p->err, "JSON: %s at byte %zu", what, p->pos);
}

/*
 * Skip JSON whitespace (space, tab, CR, LF).
 */
static void
jp_ws(jp *p)
{
	while (p->pos < p->len)
	{
		char		c = p->s[p->pos];

		if (c != ' ' && c != '\t' && c != '\n' && c != '\r')
			break;
		p->pos++;
	}
}

/*
 * Release everything a node owns (not the node itself).
 */
static void
json_clear(llm_json *v)
{
	size_t		i;

	if (v->type == LLM_JSON_STRING)
		free(v->str);
	if (v->type == LLM_JSON_ARRAY || v->type == LLM_JSON_OBJECT)
	{
		for (i = 0; i < v->n; i++)
		{
			json_clear(&v->items[i]);
			if (v->keys)
				free(v->keys[i]);
		}
		free(v->items);
		free(v->keys);
		free(v->key_lens);
	}
	memset(v, 0, sizeof(*v));
}

/*
 * Parse 4 hex digits of a \u escape.
 */
static int
jp_hex4(jp *p, uint32_t *out)
{
	uint32_t	v = 0;
	int			i;

	if (p->len - p->pos < 4)
		return jp_fail(p, "truncated \\u escape");
	for (i = 0; i < 4; i++)
	{
		char		c = p->s[p->pos + i];

		v <<= 4;
		if (c >= '0' && c <= '9')
			v |= (uint32_t) (c - '0');
		else if (c >= 'a' && c <= 'f')
			v |= (uint32_t) (c - 'a' + 10);
		else if (c >= 'A' && c <= 'F')
			v |= (uint32_t) (c - 'A' + 10);
		else
			return jp_fail(p, "bad hex digit in \\u escape");
	}
	p->pos += 4;
	*out = v;
	return 0;
}

/*
 * Append code point cp as UTF-8 to buf (which has room).
 */
static size_t
put_utf8(char *buf, uint32_t cp)
{
	if (cp < 0x80)
	{
		buf[0] = (char) cp;
		return 1;
	}
	if (cp < 0x800)
	{
		buf[0] = (char) (0xC0 | (cp >> 6));
		buf[1] = (char) (0x80 | (cp & 0x3F));
		return 2;
	}
	if (cp < 0x10000)
	{
		buf[0] = (char) (0xE0 | (cp >> 12));
		buf[1] = (char) (0x80 | ((cp >> 6) & 0x3F));
		buf[2] = (char) (0x80 | (cp & 0x3F));
		return 3;
	}
	buf[0] = (char) (0xF0 | (cp >> 18));
	buf[1] = (char) (0x80 | ((cp >> 12) & 0x3F));
	buf[2] = (char) (0x80 | ((cp >> 6) & 0x3F));
	buf[3] = (char) (0x80 | (cp & 0x3F));
	return 4;
}

/*
 * Length of a valid UTF-8 sequence at s[0..n), or 0 when invalid.
 */
static size_t
utf8_valid_len(const unsigned char *s, size_t n)
{
	unsigned char c = s[0];
	size_t		need,
				i;
	uint32_t	cp;

	if (c < 0x80)
		return 1;
	if (c >= 0xC2 && c <= 0xDF)
	{
		need = 2;
		cp = c & 0x1F;
	}
	else if (c >= 0xE0 && c <= 0xEF)
	{
		need = 3;
		cp = c & 0x0F;
	}
	else if (c >= 0xF0 && c <= 0xF4)
	{
		need = 4;
		cp = c & 0x07;
	}
	else
		return 0;
	if (n < need)
		return 0;
	for (i = 1; i < need; i++)
	{
		if ((s[i] & 0xC0) != 0x80)
			return 0;
		cp = (cp << 6) | (s[i] & 0x3F);
	}
	if ((need == 3 && cp < 0x800) || (need == 4 && (cp < 0x10000 || cp > 0x10FFFF)) ||
		(cp >= 0xD800 && cp <= 0xDFFF))
		return 0;
	return need;
}

/*
 * Parse a string (p->pos at the opening quote) into a malloc'd buffer.
 */
static int
jp_string(jp *p, char **out, size_t *outlen)
{
	size_t		start,
				end,
				n = 0;
	char	   *buf;

	p->pos++;					/* opening quote */
	start = p->pos;
	/* find the closing quote to size the buffer */
	for (end = start; end < p->len; end++)
	{
		if (p->s[end] == '\\')
			end++;
		else if (p->s[end] == '"')
			break;
	}
	if (end >= p->len)
		return jp_fail(p, "unterminated string");
	buf = malloc(end - start + 1);
	if (!buf)
		return jp_fail(p, "out of memory");
	while (p->pos < end)
	{
		unsigned char c = (unsigned char) p->s[p->pos];

		if (c < 0x20)
		{
			free(buf);
			return jp_fail(p, "control character in string");
		}
		if (c == '\\')
		{
			char		e = p->s[p->pos + 1];
			uint32_t	cp;

			p->pos += 2;
			switch (e)
			{
				case '"':
					buf[n++] = '"';
					break;
				case '\\':
					buf[n++] = '\\';
					break;
				case '/':
					buf[n++] = '/';
					break;
				case 'b':
					buf[n++] = '\b';
					break;
				case 'f':
					buf[n++] = '\f';
					break;
				case 'n':
					buf[n++] = '\n';
					break;
				case 'r':
					buf[n++] = '\r';
					break;
				case 't':
					buf[n++] = '\t';
					break;
				case 'u':
					if (jp_hex4(p, &cp) < 0)
					{
						free(buf);
						return -1;
					}
					if (cp >= 0xDC00 && cp <= 0xDFFF)
					{
						free(buf);
						return jp_fail(p, "lone low surrogate");
					}
					if (cp >= 0xD800 && cp <= 0xDBFF)
					{
						uint32_t	lo;

						if (p->len - p->pos < 2 || p->s[p->pos] != '\\' || p->s[p->pos + 1] != 'u')
						{
							free(buf);
							return jp_fail(p, "lone high surrogate");
						}
						p->pos += 2;
						if (jp_hex4(p, &lo) < 0)
						{
							free(buf);
							return -1;
						}
						if (lo < 0xDC00 || lo > 0xDFFF)
						{
							free(buf);
							return jp_fail(p, "bad surrogate pair");
						}
						cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
					}
					/* a \u escape never takes more bytes than its text */
					n += put_utf8(buf + n, cp);
					break;
				default:
					free(buf);
					return jp_fail(p, "bad escape");
			}
			if (p->pos > end)
			{
				free(buf);
				return jp_fail(p, "escape runs past string end");
			}
		}
		else
		{
			size_t		l = utf8_valid_len((const unsigned char *) p->s + p->pos, end - p->pos);

			if (l == 0)
			{
				free(buf);
				return jp_fail(p, "invalid UTF-8 in string");
			}
			memcpy(buf + n, p->s + p->pos, l);
			n += l;
			p->pos += l;
		}
	}
	p->pos = end + 1;
	buf[n] = '\0';
	*out = buf;
	*outlen = n;
	return 0;
}

/*
 * Parse a number following the JSON grammar strictly.
 */
static int
jp_number(jp *p, llm_json *out)
{
	size_t		start = p->pos;
	bool		integer = true;
	char		tmp[64];
	char	   *endp;
	size_t		n;

	if (p->pos < p->len && p->s[p->pos] == '-')
		p->pos++;
	if (p->pos >= p->len)
		return jp_fail(p, "truncated number");
	if (p->s[p->pos] == '0')
		p->pos++;
	else if (p->s[p->pos] >= '1' && p->s[p->pos] <= '9')
	{
		while (p->pos < p->len && p->s[p->pos] >= '0' && p->s[p->pos] <= '9')
			p->pos++;
	}
	else
		return jp_fail(p, "bad number");
	if (p->pos < p->len && p->s[p->pos] == '.')
	{
		integer = false;
		p->pos++;
		if (p->pos >= p->len || p->s[p->pos] < '0' || p->s[p->pos] > '9')
			return jp_fail(p, "bad fraction");
		while (p->pos < p->len && p->s[p->pos] >= '0' && p->s[p->pos] <= '9')
			p->pos++;
	}
	if (p->pos < p->len && (p->s[p->pos] == 'e' || p->s[p->pos] == 'E'))
	{
		integer = false;
		p->pos++;
		if (p->pos < p->len && (p->s[p->pos] == '+' || p->s[p->pos] == '-'))
			p->pos++;
		if (p->pos >= p->len || p->s[p->pos] < '0' || p->s[p->pos] > '9')
			return jp_fail(p, "bad exponent");
		while (p->pos < p->len && p->s[p->pos] >= '0' && p->s[p->pos] <= '9')
			p->pos++;
	}
	n = p->pos - start;
	if (n >= sizeof(tmp))
		return jp_fail(p, "number too long");
	memcpy(tmp, p->s + start, n);
	tmp[n] = '\0';
	out->type = LLM_JSON_NUMBER;
	out->num = strtod(tmp, NULL);
	if (integer)
	{
		long long	v;

		errno = 0;
		v = strtoll(tmp, &endp, 10);
		if (errno == 0 && *endp == '\0')
		{
			out->is_int = true;
			out->i = v;
		}
	}
	return 0;
}

/*
 * Match a literal keyword (true/false/null).
 */
static bool
jp_lit(jp *p, const char *word)
{
	size_t		n = strlen(word);

	if (p->len - p->pos < n || memcmp(p->s + p->pos, word, n) != 0)
		return false;
	p->pos += n;
	return true;
}

/*
 * Grow the children arrays of an array/object node to hold one more.
 */
static int
jp_grow(jp *p, llm_json *v, size_t *cap, bool object)
{
	size_t		nc;
	void	   *np;

	if (v->n < *cap)
		return 0;
	nc = *cap ? *cap * 2 : 4;
	np = realloc(v->items, nc * sizeof(llm_json));
	if (!np)
		return jp_fail(p, "out of memory");
	v->items = np;
	if (object)
	{
		np = realloc(v->keys, nc * sizeof(char *));
		if (!np)
			return jp_fail(p, "out of memory");
		v->keys = np;
		np = realloc(v->key_lens, nc * sizeof(size_t));
		if (!np)
			return jp_fail(p, "out of memory");
		v->key_lens = np;
	}
	*cap = nc;
	return 0;
}

/*
 * Parse an array or object (p->pos at the opening bracket).
 */
static int
jp_container(jp *p, llm_json *out, int depth, bool object)
{
	size_t		cap = 0;
	char		close = object ? '}' : ']';

	out->type = object ? LLM_JSON_OBJECT : LLM_JSON_ARRAY;
	p->pos++;
	jp_ws(p);
	if (p->pos < p->len && p->s[p->pos] == close)
	{
		p->pos++;
		return 0;
	}
	for (;;)
	{
		llm_json	child;

		memset(&child, 0, sizeof(child));
		if (jp_grow(p, out, &cap, object) < 0)
			return -1;
		jp_ws(p);
		if (object)
		{
			char	   *key;
			size_t		klen;

			if (p->pos >= p->len || p->s[p->pos] != '"')
				return jp_fail(p, "expected object key");
			if (jp_string(p, &key, &klen) < 0)
				return -1;
			jp_ws(p);
			if (p->pos >= p->len || p->s[p->pos] != ':')
			{
				free(key);
				return jp_fail(p, "expected ':'");
			}
			p->pos++;
			if (jp_value(p, &child, depth + 1) < 0)
			{
				free(key);
				json_clear(&child);
				return -1;
			}
			out->keys[out->n] = key;
			out->key_lens[out->n] = klen;
		}
		else if (jp_value(p, &child, depth + 1) < 0)
		{
			json_clear(&child);
			return -1;
		}
		out->items[out->n++] = child;
		jp_ws(p);
		if (p->pos >= p->len)
			return jp_fail(p, "unterminated container");
		if (p->s[p->pos] == ',')
		{
			p->pos++;
			continue;
		}
		if (p->s[p->pos] == close)
		{
			p->pos++;
			return 0;
		}
		return jp_fail(p, object ? "expected ',' or '}'" : "expected ',' or ']'");
	}
}

/*
 * Parse any value at the current position.
 */
static int
jp_value(jp *p, llm_json *out, int depth)
{
	char		c;

	if (depth > LLM_JSON_MAX_DEPTH)
		return jp_fail(p, "nesting too deep");
	jp_ws(p);
	if (p->pos >= p->len)
		return jp_fail(p, "unexpected end of input");
	c = p->s[p->pos];
	if (c == '{' || c == '[')
		return jp_container(p, out, depth, c == '{');
	if (c == '"')
	{
		out->type = LLM_JSON_STRING;
		return jp_string(p, &out->str, &out->len);
	}
	if (c == '-' || (c >= '0' && c <= '9'))
		return jp_number(p, out);
	if (jp_lit(p, "true"))
	{
		out->type = LLM_JSON_BOOL;
		out->b = true;
		return 0;
	}
	if (jp_lit(p, "false"))
	{
		out->type = LLM_JSON_BOOL;
		return 0;
	}
	if (jp_lit(p, "null"))
	{
		out->type = LLM_JSON_NULL;
		return 0;
	}
	return jp_fail(p, "unexpected character");
}

/*
 * Parse a complete document; trailing non-whitespace is an error.
 */
llm_json *
llm_json_parse(const char *text, size_t len, char *err)
{
	jp			p = {text, len, 0, err};
	llm_json   *v = calloc(1, sizeof(llm_json));

	if (!v)
	{
		llm_err(err, "out of memory");
		return NULL;
	}
	if (jp_value(&p, v, 0) < 0)
	{
		llm_json_free(v);
		return NULL;
	}
	jp_ws(&p);
	if (p.pos != len)
	{
		jp_fail(&p, "trailing characters after value");
		llm_json_free(v);
		return NULL;
	}
	return v;
}

/*
 * Free a parsed tree.
 */
void
llm_json_free(llm_json *v)
{
	if (!v)
		return;
	json_clear(v);
	free(v);
}

/*
 * Find the first member named key.
 */
const llm_json *
llm_json_get(const llm_json *obj, const char *key)
{
	size_t		i,
				kl;

	if (!obj || obj->type != LLM_JSON_OBJECT)
		return NULL;
	kl = strlen(key);
	for (i = 0; i < obj->n; i++)
		if (obj->key_lens[i] == kl && memcmp(obj->keys[i], key, kl) == 0)
			return &obj->items[i];
	return NULL;
}

/*
 * Boolean member or def.
 */
bool
llm_json_get_bool(const llm_json *obj, const char *key, bool def)
{
	const llm_json *v = llm_json_get(obj, key);

	return (v && v->type == LLM_JSON_BOOL) ? v->b : def;
}

/*
 * Integer member or def.
 */
int64_t
llm_json_get_int(const llm_json *obj, const char *key, int64_t def)
{
	const llm_json *v = llm_json_get(obj, key);

	return (v && v->type == LLM_JSON_NUMBER && v->is_int) ? v->i : def;
}

/*
 * Numeric member or def.
 */
double
llm_json_get_num(const llm_json *obj, const char *key, double def)
{
	const llm_json *v = llm_json_get(obj, key);

	return (v && v->type == LLM_JSON_NUMBER) ? v->num : def;
}

/*
 * String member or NULL.
 */
const char *
llm_json_get_str(const llm_json *obj, const char *key)
{
	const llm_json *v = llm_json_get(obj, key);

	return (v && v->type == LLM_JSON_STRING) ? v->str : NULL;
}

typedef struct keyref
{
	const char *k;
	size_t		l;
	size_t		idx;
} keyref;

/*
 * qsort order of keys: bytes, then length, then index.
 */
static int
keyref_cmp(const void *a, const void *b)
{
	const keyref *x = a,
			   *y = b;
	size_t		m = x->l < y->l ? x->l : y->l;
	int			c = memcmp(x->k, y->k, m);

	if (c)
		return c;
	if (x->l != y->l)
		return x->l < y->l ? -1 : 1;
	return x->idx < y->idx ? -1 : (x->idx > y->idx);
}

/*
 * Detect duplicated keys by sorting references to them.
 */
int64_t
llm_json_dup_key(const llm_json *obj)
{
	keyref	   *r;
	size_t		i;
	int64_t		dup = -1;

	if (!obj || obj->type != LLM_JSON_OBJECT || obj->n < 2)
		return -1;
	r = malloc(obj->n * sizeof(keyref));
	if (!r)
		return 0;				/* cannot check: report the first key */
	for (i = 0; i < obj->n; i++)
		r[i] = (keyref) {obj->keys[i], obj->key_lens[i], i};
	qsort(r, obj->n, sizeof(keyref), keyref_cmp);
	for (i = 1; i < obj->n; i++)
		if (r[i].l == r[i - 1].l && memcmp(r[i].k, r[i - 1].k, r[i].l) == 0)
		{
			dup = (int64_t) r[i].idx;
			break;
		}
	free(r);
	return dup;
}

/*
 * Read a regular file of at most max bytes.
 */
int
llm_json_read_file(const char *path, size_t max, char **out, size_t *len, char *err)
{
	int			fd = open(path, O_RDONLY | O_CLOEXEC);
	struct stat st;
	char	   *buf;
	size_t		got = 0;

	if (fd < 0)
		return llm_err(err, "cannot open %s: %s", path, strerror(errno));
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode))
	{
		close(fd);
		return llm_err(err, "%s is not a regular file", path);
	}
	if ((uint64_t) st.st_size > max)
	{
		close(fd);
		return llm_err(err, "%s is too large (%lld bytes)", path, (long long) st.st_size);
	}
	buf = malloc((size_t) st.st_size + 1);
	if (!buf)
	{
		close(fd);
		return llm_err(err, "out of memory reading %s", path);
	}
	while (got < (size_t) st.st_size)
	{
		ssize_t		r = read(fd, buf + got, (size_t) st.st_size - got);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
		{
			free(buf);
			close(fd);
			return llm_err(err, "cannot read %s", path);
		}
		got += (size_t) r;
	}
	close(fd);
	buf[got] = '\0';
	*out = buf;
	*len = got;
	return 0;
}

/*
 * Read and parse a JSON file (capped at 256 MB).
 */
llm_json *
llm_json_parse_file(const char *path, char *err)
{
	char	   *buf;
	size_t		len;
	llm_json   *v;
	char		e2[LLM_ERRLEN];

	if (llm_json_read_file(path, (size_t) 256 << 20, &buf, &len, err) < 0)
		return NULL;
	v = llm_json_parse(buf, len, e2);
	if (!v)
		llm_err(err, "%s: %s", path, e2);
	free(buf);
	return v;
}
