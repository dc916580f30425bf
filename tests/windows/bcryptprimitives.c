/*
 * Test-only stand-in, for running the Windows build under Wine (scripts/windows-build.sh): Rust's
 * standard library takes random bytes from ProcessPrng in bcryptprimitives.dll, which every
 * Windows 10 and Server 2016+ has but Debian bookworm's Wine 8 does not. This DLL, placed beside the
 * .exe only in the Wine run, provides ProcessPrng from RtlGenRandom (advapi32's
 * SystemFunction036), which Wine does have. It is never shipped: the images run on real Windows.
 */
#include <windows.h>

BOOLEAN WINAPI SystemFunction036(PVOID buffer, ULONG length);

__declspec(dllexport) BOOL WINAPI ProcessPrng(PBYTE data, SIZE_T length) {
    while (length > 0) {
        ULONG chunk = length > 0x40000000 ? 0x40000000 : (ULONG)length;
        if (!SystemFunction036(data, chunk)) {
            return FALSE;
        }
        data += chunk;
        length -= chunk;
    }
    return TRUE;
}
