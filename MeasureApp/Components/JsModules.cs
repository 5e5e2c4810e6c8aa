using Microsoft.JSInterop;

namespace MeasureApp.Components;

/// <summary>The one way a component lets go of its JavaScript module when it is disposed.</summary>
public static class JsModules
{
    /// <summary>
    /// Calls <paramref name="detach"/> on <paramref name="module"/> (when given) and disposes the module. A tab that
    /// is closing or gone is not an error: the circuit's pending interop calls are cancelled
    /// (<see cref="TaskCanceledException"/>) or the connection is already down (<see cref="JSDisconnectedException"/>);
    /// both are taken here, so closing a page does not log an unhandled circuit exception.
    /// </summary>
    public static async ValueTask ReleaseAsync(IJSObjectReference? module, string? detach = null, params object?[] args)
    {
        if (module is null)
        {
            return;
        }
        try
        {
            if (detach is not null)
            {
                await module.InvokeVoidAsync(detach, args);
            }
            await module.DisposeAsync();
        }
        catch (Exception e) when (e is JSDisconnectedException or TaskCanceledException)
        {
            // The tab is closing or closed; its JavaScript side goes with it.
        }
    }
}
