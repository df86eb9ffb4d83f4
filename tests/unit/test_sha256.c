/* The codecs of common/: SHA-256 and base64. */
#include "unit.h"
#include "common/b64.h"
#include "common/sha256.h"

#include <stdlib.h>
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

/* RFC 4648 section 10 test vectors, and a byte above 0x7f. */
UT_TEST(b64_vectors)
{
    static const char *const want[] = {"",         "Zg==",     "Zm8=",    "Zm9v",
                                       "Zm9vYg==", "Zm9vYmE=", "Zm9vYmFy"};
    for (size_t n = 0; n <= 6; n++) {
        char *got = b64_encode("foobar", n);
        UT_CHECK(got && !strcmp(got, want[n]), "b64 of %zu bytes: %s", n, got ? got : "NULL");
        free(got);
    }
    char *got = b64_encode("\xff\xfe", 2);
    UT_CHECK(got && !strcmp(got, "//4="), "b64 of ff fe: %s", got ? got : "NULL");
    free(got);
}
