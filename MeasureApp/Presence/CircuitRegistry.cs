using System.Collections.Concurrent;
using MeasureApp.Identity;
using Microsoft.AspNetCore.Components;
using Microsoft.AspNetCore.Components.Authorization;
using Microsoft.AspNetCore.Components.Server.Circuits;

namespace MeasureApp.Presence;

/// <summary>One open tab: its user, where it is, when it was last seen, and how to end it.</summary>
public sealed class CircuitEntry(string circuitId, string userId, string userName, DateTimeOffset openedAt)
{
    public string CircuitId { get; } = circuitId;
    public string UserId { get; } = userId;
    public string UserName { get; } = userName;
    public DateTimeOffset OpenedAt { get; } = openedAt;
    public DateTimeOffset LastSeen { get; set; } = openedAt;
    public string? Page { get; set; }

    /// <summary>False while the browser's connection is down (a closed or dropped tab, kept by Blazor
    /// for a few minutes in case it reconnects): it does not count against the open-tabs limit.</summary>
    public bool Connected { get; internal set; } = true;

    /// <summary>Ends the tab's login at once (navigates it to a page that signs out).</summary>
    internal Action? End { get; set; }
}

/// <summary>
/// Every open circuit on this instance, per user. Used to end a user's sessions at once and, later,
/// for presence and the open-tabs limit. Holds ids and names only — no user data.
/// </summary>
public sealed class CircuitRegistry(TimeProvider time)
{
    private readonly ConcurrentDictionary<string, CircuitEntry> _circuits = new(StringComparer.Ordinal);

    /// <summary>Open circuits of one user.</summary>
    public IReadOnlyList<CircuitEntry> ForUser(string userId) => [.. _circuits.Values.Where(c => c.UserId == userId)];

    /// <summary>All open circuits (admin monitor).</summary>
    public IReadOnlyList<CircuitEntry> All => [.. _circuits.Values];

    /// <summary>Ends every open circuit of a user; returns how many were ended.</summary>
    public int EndSessions(string userId)
    {
        var ended = 0;
        foreach (var c in ForUser(userId))
        {
            c.End?.Invoke();
            ended++;
        }
        return ended;
    }

    internal CircuitEntry Register(string circuitId, string userId, string userName)
    {
        var entry = new CircuitEntry(circuitId, userId, userName, time.GetUtcNow());
        _circuits[circuitId] = entry;
        return entry;
    }

    internal void Unregister(string circuitId) => _circuits.TryRemove(circuitId, out _);

    internal void SetConnected(string circuitId, bool connected)
    {
        if (_circuits.TryGetValue(circuitId, out var entry))
        {
            entry.Connected = connected;
        }
    }

    internal void Touch(string circuitId, string? page)
    {
        if (_circuits.TryGetValue(circuitId, out var entry))
        {
            entry.LastSeen = time.GetUtcNow();
            entry.Page = page ?? entry.Page;
        }
    }
}

/// <summary>
/// Registers each authenticated circuit with the <see cref="CircuitRegistry"/>. Scoped per circuit;
/// the layout hands it the way to end the tab (a navigation on the circuit's own dispatcher).
/// </summary>
public sealed class RegistryCircuitHandler(CircuitRegistry registry, AuthenticationStateProvider auth, NavigationManager navigation, TimeProvider time, MeasureApp.Limits.LimitsService limits) : CircuitHandler, IDisposable
{
    /// <summary>How often an open, connected circuit reports that it is still there.</summary>
    public static readonly TimeSpan HeartbeatInterval = TimeSpan.FromSeconds(15);

    private readonly CancellationTokenSource _stop = new();
    private string? _circuitId;
    private Action? _end;
    private volatile bool _connected = true;

    /// <summary>Why this tab may not be used (the user's open-tabs limit), or null.</summary>
    public string? RefusedMessage { get; private set; }

    /// <summary>Set by the layout: ends this tab's login on the circuit's dispatcher.</summary>
    public void SetEndAction(Action end)
    {
        _end = end;
        if (_circuitId is not null)
        {
            foreach (var c in registry.All.Where(c => c.CircuitId == _circuitId))
            {
                c.End = end;
            }
        }
    }

    public override async Task OnCircuitOpenedAsync(Circuit circuit, CancellationToken cancellationToken)
    {
        var state = await auth.GetAuthenticationStateAsync();
        if (CurrentUser.FromPrincipal(state.User) is not { } user)
        {
            return;
        }
        // The open-tabs limit is enforced when a circuit starts: a tab over the limit is not
        // registered (it does not count) and shows why instead of the page.
        var maxTabs = (await limits.GetAsync(user.UserId, cancellationToken)).MaxSessions;
        var open = registry.ForUser(user.UserId).Count(c => c.Connected);
        if (open >= maxTabs)
        {
            RefusedMessage = $"You have {open} of {maxTabs} allowed tabs open. Close another MeasureApp tab and reload this one.";
            return;
        }
        _circuitId = circuit.Id;
        var entry = registry.Register(circuit.Id, user.UserId, user.UserName);
        entry.Page = navigation.ToBaseRelativePath(navigation.Uri);
        entry.End = _end;
        navigation.LocationChanged += (_, e) => registry.Touch(circuit.Id, navigation.ToBaseRelativePath(e.Location));
        _ = HeartbeatAsync(circuit.Id, _stop.Token);
    }

    // The circuit's heartbeat: while the browser is connected it is "seen"; a tab whose connection
    // dropped stops being seen and its user turns inactive after the presence window.
    private async Task HeartbeatAsync(string circuitId, CancellationToken ct)
    {
        using var timer = new PeriodicTimer(HeartbeatInterval, time);
        try
        {
            while (await timer.WaitForNextTickAsync(ct))
            {
                if (_connected)
                {
                    registry.Touch(circuitId, null);
                }
            }
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
            // Circuit closed.
        }
    }

    public override Task OnConnectionDownAsync(Circuit circuit, CancellationToken cancellationToken)
    {
        _connected = false;
        registry.SetConnected(circuit.Id, false);
        return Task.CompletedTask;
    }

    public override Task OnConnectionUpAsync(Circuit circuit, CancellationToken cancellationToken)
    {
        _connected = true;
        registry.SetConnected(circuit.Id, true);
        registry.Touch(circuit.Id, null);
        return Task.CompletedTask;
    }

    public override Task OnCircuitClosedAsync(Circuit circuit, CancellationToken cancellationToken)
    {
        _stop.Cancel();
        registry.Unregister(circuit.Id);
        return Task.CompletedTask;
    }

    public void Dispose()
    {
        _stop.Cancel();
        _stop.Dispose();
    }
}
