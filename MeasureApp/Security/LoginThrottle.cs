using System.Collections.Concurrent;
using MeasureApp.Data;
using Microsoft.AspNetCore.Identity;
using Microsoft.Extensions.Options;

namespace MeasureApp.Security;

/// <summary>
/// Locks an account out of one client address after repeated wrong passwords, with a lockout that
/// doubles on every repeat (up to 15 minutes). Keyed by (account, address), so nobody can lock another
/// user — or the only admin — out from everywhere by guessing; the per-address rate limit on the login
/// form bounds how fast one address can guess. Unknown accounts are counted the same way, so the
/// lockout page says nothing about which accounts exist.
/// </summary>
public sealed class LoginThrottle(IOptionsMonitor<SecurityOptions> options, TimeProvider time, IPasswordHasher<AppUser> hasher)
{
    private static readonly TimeSpan MaxLockout = TimeSpan.FromMinutes(15);
    private const int MaxEntries = 100_000;

    private readonly ConcurrentDictionary<(string Account, string Source), Entry> _entries = new();
    private readonly Lazy<string> _dummyHash = new(() => hasher.HashPassword(new AppUser(), Guid.NewGuid().ToString()));

    /// <summary>The address a request comes from, as the throttle and the rate limiter key it.</summary>
    public static string SourceOf(HttpContext context) => context?.Connection.RemoteIpAddress?.ToString() ?? "unknown";

    /// <summary>When the pair is locked out, until when.</summary>
    public DateTimeOffset? LockedUntil(string account, string source)
    {
        var now = time.GetUtcNow();
        return _entries.TryGetValue(Key(account, source), out var e) && e.LockedUntil > now ? e.LockedUntil : null;
    }

    /// <summary>Counts a failed password; returns true when this failure locked the pair out.</summary>
    public bool Fail(string account, string source)
    {
        var now = time.GetUtcNow();
        if (_entries.Count > MaxEntries)
        {
            foreach (var (k, e) in _entries)
            {
                if (e.LockedUntil < now && now - e.LastFailure > MaxLockout)
                {
                    _entries.TryRemove(k, out _);
                }
            }
        }
        var settings = options.CurrentValue;
        var locked = false;
        _entries.AddOrUpdate(Key(account, source),
            _ => new Entry { Failures = 1, LastFailure = now },
            (_, e) =>
            {
                // A quiet quarter of an hour forgives earlier failures and strikes.
                var failures = now - e.LastFailure > MaxLockout ? 1 : e.Failures + 1;
                var strikes = now - e.LastFailure > MaxLockout ? 0 : e.Strikes;
                if (failures < settings.LockoutFailures)
                {
                    return e with { Failures = failures, Strikes = strikes, LastFailure = now };
                }
                locked = true;
                var seconds = Math.Min(MaxLockout.TotalSeconds, settings.LockoutSeconds * Math.Pow(2, Math.Min(strikes, 20)));
                return new Entry { Failures = 0, Strikes = strikes + 1, LastFailure = now, LockedUntil = now + TimeSpan.FromSeconds(seconds) };
            });
        if (settings.LockoutFailures <= 1 && !locked)
        {
            _entries[Key(account, source)] = new Entry { Strikes = 1, LastFailure = now, LockedUntil = now + TimeSpan.FromSeconds(settings.LockoutSeconds) };
            locked = true;
        }
        return locked;
    }

    /// <summary>A correct password clears the pair's failures.</summary>
    public void Succeed(string account, string source) => _entries.TryRemove(Key(account, source), out _);

    /// <summary>Spends the time of one password check, so an unknown account answers as slowly as a known one.</summary>
    public void SpendPasswordCheck(string password) =>
        hasher.VerifyHashedPassword(new AppUser(), _dummyHash.Value, password ?? "");

    private static (string, string) Key(string account, string source) => ((account ?? "").Trim().ToUpperInvariant(), source);

    private sealed record Entry
    {
        public int Failures { get; init; }
        public int Strikes { get; init; }
        public DateTimeOffset LastFailure { get; init; }
        public DateTimeOffset LockedUntil { get; init; }
    }
}
