#include "unit.h"
#include "common/sha256.h"

#include <string.h>

/* FIPS 180-2 test vectors. */
UT_TEST(sha256_vectors)
{
    char hex[65];
    sha256_hex("abc", 3, hex);
    UT_CHECK(!strcmp(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"), "%s",
             hex);
    sha256_hex("", 0, hex);
    UT_CHECK(!strcmp(hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"), "%s",
             hex);
    const char *m = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
    sha256_hex(m, strlen(m), hex);
    UT_CHECK(!strcmp(hex, "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"), "%s",
             hex);
}
