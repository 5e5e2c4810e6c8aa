using Microsoft.AspNetCore.Components;

namespace MeasureApp.Components;

/// <summary>
/// A component that takes work from outside the renderer (a service event, a timer, a JS callback).
/// <see cref="Dispatch(Func{Task})"/> runs it on the component's dispatcher; a failure goes to
/// <see cref="ComponentBase.DispatchExceptionAsync"/>, so the page's error boundary shows it instead of
/// it vanishing in a discarded task (<c>_ = InvokeAsync(...)</c>).
/// </summary>
public abstract class DispatchingComponentBase : ComponentBase
{
    /// <summary>Runs <paramref name="work"/> on the renderer; its failure is the component's error.</summary>
    protected void Dispatch(Func<Task> work) => ComponentDispatch.Run(InvokeAsync, DispatchExceptionAsync, work);

    /// <summary>Runs <paramref name="work"/> on the renderer; its failure is the component's error.</summary>
    protected void Dispatch(Action work)
    {
        ArgumentNullException.ThrowIfNull(work);
        Dispatch(() =>
        {
            work();
            return Task.CompletedTask;
        });
    }
}

/// <summary>The one place where work from outside the renderer is started without being awaited.</summary>
public static class ComponentDispatch
{
    /// <summary>
    /// Runs <paramref name="work"/> through <paramref name="invoke"/> (a component's <c>InvokeAsync</c>)
    /// and hands a failure to <paramref name="fail"/> (its <c>DispatchExceptionAsync</c>).
    /// </summary>
    public static void Run(Func<Func<Task>, Task> invoke, Func<Exception, Task> fail, Func<Task> work)
    {
        ArgumentNullException.ThrowIfNull(invoke);
        ArgumentNullException.ThrowIfNull(fail);
        ArgumentNullException.ThrowIfNull(work);
        _ = RunAsync(invoke, fail, work);
    }

    private static async Task RunAsync(Func<Func<Task>, Task> invoke, Func<Exception, Task> fail, Func<Task> work)
    {
        try
        {
            await invoke(work);
        }
        catch (ObjectDisposedException)
        {
            // The circuit is gone, and with it the page that would show the error.
        }
#pragma warning disable CA1031 // every failure is handed to the component's error handling
        catch (Exception ex)
#pragma warning restore CA1031
        {
            try
            {
                await fail(ex);
            }
            catch (ObjectDisposedException)
            {
                // The circuit ended while the error was on its way.
            }
        }
    }
}
